"""The report's counts and rates against a brute-force count over generated dossiers, on SQLite
and PostgreSQL.

Each generated dossier's expected class is worked out here from what the generator did (its
receipt, its procedure's working days, its pauses, its resolution) with the calendar alone —
not from the store's columns — and counted in Python; the database's aggregate must agree.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.dossier_code import make_dossier_code
from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.times import VN_TZ
from store.db import create_sessionmaker
from store.dossier_batch import PostEvent, PutDossier, Write, record_writes
from timeliness.calendar import WorkingCalendar
from timeliness.errors import InvalidReportQuery
from timeliness.procedures import ProcedureDeadlines
from timeliness.report import GroupBy, ReportQuery, timeliness_report
from timeliness.rules import CalendarRules

S = DossierStatus
PROCEDURES = {"1.000001": 1, "1.000003": 3, "2.000005": 5, "2.000010": 10}
AGENCIES = ("000.00.04.H04", "000.00.05.H04", "000.20.31.H04")
SECTORS = ("TP.HT", "TC.DKKD", "XD.HDXD")
NOW = dt.datetime(2027, 1, 20, 10, 0, tzinfo=VN_TZ)


@dataclass
class Expected:
    agency: str
    sector: str
    procedure: str
    month: str
    received_on: dt.date
    kind: str  # early | on_time | late | open | open_overdue | closed


def _generate(
    calendar: WorkingCalendar, count: int, seed: int
) -> tuple[list[Write], list[Expected]]:
    rng = random.Random(seed)
    writes: list[Write] = []
    expected: list[Expected] = []
    serials: Counter[tuple[str, dt.date]] = Counter()
    for _ in range(count):
        day = dt.date(2026, 9, 1) + dt.timedelta(days=rng.randrange(0, 150))  # to late Jan
        agency, sector = rng.choice(AGENCIES), rng.choice(SECTORS)
        procedure = rng.choice(sorted(PROCEDURES))
        serials[(agency, day)] += 1
        code = make_dossier_code(agency, day, serials[(agency, day)])
        received = dt.datetime.combine(day, dt.time(rng.randrange(7, 18), rng.randrange(60)), VN_TZ)
        dossier = Dossier(
            code=code,
            procedure_code=procedure,
            agency_code=agency,
            sector_code=sector,
            applicant_name="Trần Thị Thử",
            applicant_id="001099012345",
            status=S.ACCEPTED,
            received_at=received,
            updated_at=received,
            title="Thủ tục thử",
        )
        writes.append(PutDossier(dossier))
        due_day = calendar.add_working_days(calendar.receipt_day(received), PROCEDURES[procedure])
        steps: list[tuple[S, dt.datetime]] = []
        at = received + dt.timedelta(hours=1)
        steps.append((S.PROCESSING, at))
        paused = 0
        fate = rng.choice(["resolved", "resolved", "resolved", "open", "paused", "closed"])
        if fate != "closed" and rng.random() < 0.4:  # a pause for documents, ended
            start = at + dt.timedelta(days=rng.randrange(0, 4), hours=1)
            end = start + dt.timedelta(days=rng.randrange(0, 8), hours=rng.randrange(0, 5))
            steps += [(S.MORE_DOCUMENTS_REQUESTED, start), (S.PROCESSING, end)]
            paused = calendar.working_days_between(
                start.astimezone(VN_TZ).date(), end.astimezone(VN_TZ).date()
            )
            at = end
        effective_day = calendar.add_working_days(due_day, paused) if paused else due_day
        effective = dt.datetime.combine(effective_day, dt.time(17), VN_TZ)
        if fate == "resolved":
            resolved_day = max(
                at.astimezone(VN_TZ).date(), effective_day + dt.timedelta(days=rng.randrange(-6, 5))
            )
            resolved = dt.datetime.combine(
                resolved_day, dt.time(rng.choice([9, 16, 17, 18])), VN_TZ
            )
            resolved = max(resolved, at + dt.timedelta(minutes=1))
            steps.append((S.PROCESSED, resolved))
            if resolved > effective:
                kind = "late"
            elif resolved.astimezone(VN_TZ).date() < effective_day:
                kind = "early"
            else:
                kind = "on_time"
        elif fate == "closed":
            steps.append((S.STOPPED, at + dt.timedelta(hours=2)))
            kind = "closed"
        elif fate == "paused":  # still with the applicant: not overdue, whatever the date
            steps.append((S.FEES_DUE, at + dt.timedelta(hours=2)))
            kind = "open"
        else:
            kind = "open_overdue" if effective < NOW else "open"
        for sequence, (status, when) in enumerate(steps, start=1):
            event = DossierEvent(
                dossier_code=code, sequence=sequence, status=status, occurred_at=when
            )
            writes.append(PostEvent(event))
        month = f"{day.year:04d}-{day.month:02d}"
        expected.append(Expected(agency, sector, procedure, month, day, kind))
    return writes, expected


def _brute_force(expected: list[Expected], query: ReportQuery) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for item in expected:
        if not query.start <= item.received_on <= query.end:
            continue
        if query.sectors is not None and item.sector not in query.sectors:
            continue
        key = {
            GroupBy.AGENCY: item.agency,
            GroupBy.SECTOR: item.sector,
            GroupBy.PROCEDURE: item.procedure,
            GroupBy.MONTH: item.month,
        }[query.group_by]
        counter = counts.setdefault(key, Counter())
        counter["received"] += 1
        counter[item.kind] += 1
        if item.kind == "open_overdue":
            counter["open"] += 1
    return {
        key: {
            "received": c["received"],
            "early": c["early"],
            "on_time": c["on_time"],
            "late": c["late"],
            "open": c["open"],
            "open_overdue": c["open_overdue"],
            "closed": c["closed"],
        }
        for key, c in counts.items()
    }


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.load()


@pytest.mark.parametrize("group_by", list(GroupBy))
async def test_report_matches_a_brute_force_count(
    engine: AsyncEngine, calendar: WorkingCalendar, group_by: GroupBy
) -> None:
    """300 generated dossiers over five months (pauses, resolutions either side of the due
    date, stops, dossiers still with the applicant): every group's counts equal the brute-force
    count of the dossiers received in October-December, and the rates follow from them."""
    rules = CalendarRules(calendar, ProcedureDeadlines(PROCEDURES))
    writes, expected = _generate(calendar, 300, seed=18)
    async with create_sessionmaker(engine)() as session, session.begin():
        results = await record_writes(session, writes, rules=rules)
    assert not [r for r in results if isinstance(r, Exception)]
    query = ReportQuery.parse("2026-10-01", "2026-12-31", group_by.value)
    async with create_sessionmaker(engine)() as session:
        report = await timeliness_report(session, query, NOW)
    got = {row.key: {k: v for k, v in row.as_dict().items() if k in _FIELDS} for row in report.rows}
    want = _brute_force(expected, query)
    assert got == want
    assert sum(r.received for r in report.rows) == report.total.received > 100
    kinds = Counter(e.kind for e in expected)
    assert all(kinds[k] > 5 for k in ("early", "on_time", "late", "open_overdue", "closed"))
    for row in report.rows:
        if row.resolved:
            assert row.on_time_rate == pytest.approx((row.early + row.on_time) / row.resolved)


async def test_report_limited_to_a_ministrys_sectors(
    engine: AsyncEngine, calendar: WorkingCalendar
) -> None:
    """With sectors given, only dossiers of those sectors are counted."""
    rules = CalendarRules(calendar, ProcedureDeadlines(PROCEDURES))
    writes, expected = _generate(calendar, 120, seed=7)
    async with create_sessionmaker(engine)() as session, session.begin():
        await record_writes(session, writes, rules=rules)
    query = ReportQuery.parse("2026-09-01", "2027-01-31", "sector", sectors=["TP.HT"])
    async with create_sessionmaker(engine)() as session:
        report = await timeliness_report(session, query, NOW)
    assert [row.key for row in report.rows] == ["TP.HT"]
    assert report.total.received == sum(1 for e in expected if e.sector == "TP.HT")


_FIELDS = {"received", "early", "on_time", "late", "open", "open_overdue", "closed"}


@pytest.mark.parametrize(
    ("start", "end", "group_by", "field"),
    [
        (None, "2026-12-31", "agency", "from"),
        ("2026-12-31", "2026-10-01", "agency", "to"),
        ("2026-13-01", "2026-12-31", "agency", "from"),
        ("2026-10-01", "2026-12-31", "district", "group_by"),
        ("2020-01-01", "2026-12-31", "agency", "to"),
    ],
)
def test_bad_report_queries_name_the_parameter(
    start: str | None, end: str, group_by: str, field: str
) -> None:
    """A missing or malformed date, a reversed or too long range, an unknown grouping."""
    with pytest.raises(InvalidReportQuery) as caught:
        ReportQuery.parse(start, end, group_by)
    assert caught.value.field == field


def test_cli_report_formats(tmp_path: Path, calendar: WorkingCalendar) -> None:
    """``lienthong report timeliness`` prints the same counts as CSV, JSON and a table, and a
    bad date is one line and a non-zero exit."""
    import asyncio
    import csv
    import io
    import json

    from click.testing import CliRunner

    from lienthong.cli import main
    from store.db import create_engine, normalize_url, upgrade

    data = str(tmp_path / "data")
    url = normalize_url(data)
    upgrade(url)
    writes, expected = _generate(calendar, 60, seed=3)

    async def fill() -> None:
        engine = create_engine(url)
        rules = CalendarRules(calendar, ProcedureDeadlines(PROCEDURES))
        async with create_sessionmaker(engine)() as session, session.begin():
            await record_writes(session, writes, rules=rules)
        await engine.dispose()

    asyncio.run(fill())
    runner = CliRunner()
    base = ["report", "timeliness", "--from", "2026-09-01", "--to", "2027-01-31", "--data", data]
    as_csv = runner.invoke(main, [*base, "--format", "csv", "--group-by", "sector"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows[-1]["key"] == "total"
    assert int(rows[-1]["received"]) == len(expected)
    as_json = runner.invoke(main, [*base, "--format", "json"])
    assert json.loads(as_json.stdout)["total"]["received"] == len(expected)
    table = runner.invoke(main, base)
    assert table.stdout.splitlines()[0].split()[:3] == ["key", "received", "resolved"]
    bad = runner.invoke(main, ["report", "timeliness", "--from", "x", "--to", "2027-01-01"])
    assert bad.exit_code != 0
    assert "Traceback" not in bad.output
