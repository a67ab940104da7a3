"""The access log on the real store (SQLite and PostgreSQL): recording, listing, pagination."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from store.access_log import AccessLogEntry, citizen_key, list_for_citizen, record_lookup
from store.errors import InvalidCursor
from store.tables.access_log import access_log
from tests.support.message_log import (  # noqa: F401 - the db_url and engine fixtures
    access_entry,
    log_db_url,
    log_engine_on_both,
)

KEY = b"a" * 32
CITIZEN = "001190000007"
OTHER = "079203000042"
T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)


def _entry(citizen_id: str, n: int, **changes: object) -> AccessLogEntry:
    return access_entry(citizen_id, n, at=T0 + dt.timedelta(minutes=n), **changes)


async def _record(engine: AsyncEngine, *entries: AccessLogEntry, key: bytes = KEY) -> None:
    async with AsyncSession(engine) as session, session.begin():
        for entry in entries:
            await record_lookup(session, entry, key=key)


async def test_lookups_are_listed_newest_first_with_what_was_returned(engine: AsyncEngine) -> None:
    """Each entry says who, organisation, official, dossier, when and which fields; newest first."""
    await _record(engine, _entry(CITIZEN, 1), _entry(OTHER, 2), _entry(CITIZEN, 3, fields=()))
    async with AsyncSession(engine) as session:
        page = await list_for_citizen(session, CITIZEN, key=KEY)
    assert [item.request_id for item in page.items] == ["req-3", "req-1"]
    newest, oldest = page.items
    assert newest.fields == ()
    assert oldest.fields == ("citizen_id", "full_name")
    assert (oldest.client_id, oldest.organisation, oldest.official) == (
        "province-app",
        "UBND tỉnh Hà Giang",
        "VN001085000123",
    )
    assert oldest.dossier_code == "000.00.04.H04-261126-0001"
    assert oldest.occurred_at == T0 + dt.timedelta(minutes=1)
    assert oldest.message_id == "msg-1"
    assert page.next_cursor is None


async def test_pages_follow_each_other_without_gaps_or_repeats(engine: AsyncEngine) -> None:
    """Seven lookups read three at a time: 3 + 3 + 1, in order, then no cursor."""
    await _record(engine, *(_entry(CITIZEN, n) for n in range(7)))
    seen: list[str | None] = []
    cursor: str | None = None
    pages = 0
    async with AsyncSession(engine) as session:
        while True:
            page = await list_for_citizen(session, CITIZEN, key=KEY, limit=3, cursor=cursor)
            seen += [item.request_id for item in page.items]
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert pages == 3
    assert seen == [f"req-{n}" for n in range(6, -1, -1)]


async def test_the_table_holds_no_clear_citizen_id(engine: AsyncEngine) -> None:
    """Rows are found by the keyed hash; the ID itself appears in no column."""
    await _record(engine, _entry(CITIZEN, 1))
    async with engine.connect() as conn:
        row = (await conn.execute(select(access_log))).one()
    assert row.citizen_key == citizen_key(KEY, CITIZEN)
    assert CITIZEN not in " ".join(str(value) for value in row)


async def test_another_key_finds_nothing(engine: AsyncEngine) -> None:
    """Without the access-log key the rows cannot be tied to a citizen."""
    await _record(engine, _entry(CITIZEN, 1))
    async with AsyncSession(engine) as session:
        page = await list_for_citizen(session, CITIZEN, key=b"b" * 32)
    assert list(page.items) == []


async def test_a_foreign_cursor_and_a_bad_limit_are_refused(engine: AsyncEngine) -> None:
    """A cursor not issued here is InvalidCursor; a limit outside 1..200 is a ValueError."""
    async with AsyncSession(engine) as session:
        for cursor in ("garbage!!", "eHl6OjE", ""):
            with pytest.raises(InvalidCursor):
                await list_for_citizen(session, CITIZEN, key=KEY, cursor=cursor)
        for limit in (0, 201):
            with pytest.raises(ValueError, match="limit"):
                await list_for_citizen(session, CITIZEN, key=KEY, limit=limit)
