"""Watch-list files and the bulk import: per-row validation, one transaction, a report."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.citizen_id import Sex, make_citizen_id
from schemas.tax_code import make_tax_code
from store.watches.types import Watch, WatchKind
from store.watches.watch_list import list_watches
from tests.support.records import sqlite_sessions
from watches.errors import SourceFileError
from watches.files import parse_rows, read_rows
from watches.registration import (
    WATCH_COLUMN_ALIASES,
    WATCH_COLUMNS,
    Refusal,
    import_watches,
    make_watch,
)

T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
CITIZEN = make_citizen_id("001", 1985, Sex.MALE, 1)
CITIZEN_2 = make_citizen_id("079", 1990, Sex.FEMALE, 2)
TAX = make_tax_code("010010910")
DOSSIER = "000.00.04.H04-261126-0001"
OFFICIAL = "VN" + make_citizen_id("001", 1980, Sex.MALE, 9)


class FakePolicy:
    """Clients ``province-app`` and ``ministry``; the dossier above exists; ``ministry`` holds
    the standing purpose ``bhxh``."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on

    def knows_client(self, client: str) -> bool:
        return client in ("province-app", "ministry")

    async def refusal(self, session: AsyncSession, watch: Watch) -> Refusal | None:
        if watch.record_id == self.fail_on:
            raise RuntimeError("database went away")
        if watch.kind is WatchKind.BUSINESS or watch.purpose == DOSSIER:
            return None
        if watch.client == "ministry" and watch.purpose == "bhxh":
            return None
        return Refusal("purpose_not_granted", "not granted")


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with sqlite_sessions(tmp_path) as made:
        yield made


def _csv(text: str) -> list:  # type: ignore[type-arg]
    return parse_rows(text, required=WATCH_COLUMNS, aliases=WATCH_COLUMN_ALIASES)


GOOD_AND_BAD = f"""Kind,Record ID,Purpose
citizen,{CITIZEN},{DOSSIER}
business,{TAX},
citizen,123,{DOSSIER}
planet,{TAX},
citizen,{CITIZEN_2},
citizen,{CITIZEN_2},not-granted
business,{TAX},

citizen,{CITIZEN},{DOSSIER}
"""


async def test_a_bulk_import_with_bad_rows_imports_the_good_ones_and_reports_the_rest(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Good rows are written, each bad row is reported with its line and reason code."""
    rows = _csv(GOOD_AND_BAD)
    progress: list[int] = []
    report = await import_watches(
        sessions,
        rows,
        policy=FakePolicy(),
        default_client="province-app",
        default_official=OFFICIAL,
        now=T0,
        on_progress=progress.append,
    )
    assert (report.rows, report.created, report.imported) == (8, 2, 2)
    assert [(r.line, r.code) for r in report.rejected] == [
        (4, "invalid_citizen_id"),
        (5, "invalid_kind"),
        (6, "missing_purpose"),
        (7, "purpose_not_granted"),
        (8, "duplicate_row"),
        (10, "duplicate_row"),
    ]
    assert all(CITIZEN not in r.message for r in report.rejected)
    assert sum(progress) == 8
    async with sessions() as session:
        watches = await list_watches(session)
    assert {(w.kind, w.record_id, w.purpose, w.official) for w in watches} == {
        (WatchKind.CITIZEN, CITIZEN, DOSSIER, OFFICIAL),
        (WatchKind.BUSINESS, TAX, "", None),
    }


async def test_an_unexpected_failure_rolls_the_whole_import_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """When the import fails half way, not one row of it is left in the store."""
    rows = _csv(f"kind,id,purpose\nbusiness,{TAX},\ncitizen,{CITIZEN},{DOSSIER}\n")
    with pytest.raises(RuntimeError, match="went away"):
        await import_watches(
            sessions,
            rows,
            policy=FakePolicy(fail_on=CITIZEN),
            default_client="province-app",
            default_official=OFFICIAL,
            now=T0,
        )
    async with sessions() as session:
        assert await list_watches(session) == []


async def test_rows_may_name_their_client_and_unknown_clients_are_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A ``client`` column overrides the default; a client not registered is refused."""
    rows = _csv(
        f"kind,id,purpose,client,official\n"
        f"citizen,{CITIZEN},bhxh,ministry,{OFFICIAL}\n"
        f"citizen,{CITIZEN},bhxh,nobody,{OFFICIAL}\n"
        f"citizen,{CITIZEN_2},{DOSSIER},,{OFFICIAL}\n"
        f"citizen,{CITIZEN_2},{DOSSIER},ministry,\n"
        f"citizen,{CITIZEN_2},{DOSSIER},ministry,VN123\n"
    )
    report = await import_watches(sessions, rows, policy=FakePolicy(), default_client=None, now=T0)
    assert [(r.line, r.code) for r in report.rejected] == [
        (3, "unknown_client"),
        (4, "missing_client"),
        (5, "missing_official"),
        (6, "invalid_official"),
    ]
    async with sessions() as session:
        assert [w.client for w in await list_watches(session)] == ["ministry"]


def test_json_files_are_read_with_item_numbers(tmp_path: Path) -> None:
    """A JSON list (or an object holding one under ``watches``) gives numbered rows."""
    path = tmp_path / "watches.json"
    path.write_text(
        json.dumps({"watches": [{"kind": "business", "id": TAX}, "oops", {"kind": "citizen"}]})
    )
    rows = read_rows(path, required=WATCH_COLUMNS, aliases=WATCH_COLUMN_ALIASES)
    assert [row.line for row in rows] == [1, 2, 3]
    assert rows[0].get("id") == TAX
    assert rows[1].values == {"__invalid__": "not an object"}


def test_a_file_without_the_needed_columns_is_refused_as_a_whole() -> None:
    """A CSV without an ``id`` column is a file error, not a thousand row errors."""
    with pytest.raises(SourceFileError, match="no column id"):
        _csv("kind,purpose\ncitizen,x\n")
    with pytest.raises(SourceFileError, match="not valid JSON"):
        parse_rows("[{", required=WATCH_COLUMNS, json_format=True)


def test_a_csv_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """A spreadsheet's UTF-8 byte-order mark does not spoil the first column's name."""
    path = tmp_path / "w.csv"
    path.write_bytes(f"kind,id\r\nbusiness,{TAX}\r\n".encode("utf-8-sig"))
    rows = read_rows(path, required=WATCH_COLUMNS)
    assert rows[0].get("kind") == "business"
    assert rows[0].line == 2


def test_make_watch_checks_each_value() -> None:
    """IDs are validated by kind, purposes bounded, businesses need no purpose."""
    assert make_watch("Business", f" {TAX} ", "c", "") == Watch(WatchKind.BUSINESS, TAX, "c", "")
    assert isinstance(make_watch("business", CITIZEN, "c", ""), Refusal)
    refusal = make_watch("citizen", CITIZEN, "c", "x" * 65, OFFICIAL)
    assert isinstance(refusal, Refusal)
    assert refusal.code == "invalid_purpose"
