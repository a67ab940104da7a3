"""Bulk verification on a fake population connector: verdicts, invalid rows, the CSV report."""

from __future__ import annotations

import csv
import datetime as dt
import io

from connectors.base import CallContext
from schemas.citizen_id import Sex, make_citizen_id
from tests.support.records import FakePopulation
from watches.files import parse_rows
from watches.verify import (
    REPORT_COLUMNS,
    VERIFY_COLUMN_ALIASES,
    VERIFY_COLUMNS,
    VerifyOutcome,
    parse_birth_date,
    summarise,
    verify_rows,
    write_report,
)

KNOWN = make_citizen_id("001", 1985, Sex.MALE, 1)
UNKNOWN = make_citizen_id("079", 1990, Sex.FEMALE, 2)
FLAKY = make_citizen_id("079", 1991, Sex.FEMALE, 3)

FILE = f"""CCCD,Họ tên,Ngày sinh
{KNOWN},Nguyễn Văn A,1985-03-04
{KNOWN},Nguyễn  Văn   A,04/03/1985
{KNOWN},Nguyễn Văn B,1985-03-04
{UNKNOWN},Trần Thị C,1990-01-01
12345,Lê D,1990-01-01
{KNOWN},Nguyễn Văn A,1986-03-04
{KNOWN},Nguyễn Văn A,31/02/1985
{KNOWN},,1985-03-04
{FLAKY},Phạm E,1991-05-05
"""


def _population() -> FakePopulation:
    population = FakePopulation(
        {KNOWN: {"full_name": "Nguyễn Văn A", "date_of_birth": "1985-03-04"}}
    )
    population.failing = lambda citizen_id: citizen_id == FLAKY
    return population


async def test_every_row_gets_a_verdict_in_file_order() -> None:
    """Matches, mismatches (an unknown citizen too), invalid rows with reasons, upstream errors."""
    aliases = {**VERIFY_COLUMN_ALIASES, "họ_tên": "full_name", "ngày_sinh": "date_of_birth"}
    rows = parse_rows(FILE, required=VERIFY_COLUMNS, aliases=aliases)
    population = _population()
    progress: list[int] = []
    results = await verify_rows(
        rows,
        population,
        context=lambda: CallContext.new("province-app", issue="lam-sach-du-lieu"),
        concurrency=3,
        on_progress=progress.append,
    )
    assert [(r.line, r.outcome) for r in results] == [
        (2, VerifyOutcome.MATCH),
        (3, VerifyOutcome.MATCH),
        (4, VerifyOutcome.MISMATCH),
        (5, VerifyOutcome.MISMATCH),
        (6, VerifyOutcome.INVALID),
        (7, VerifyOutcome.INVALID),
        (8, VerifyOutcome.INVALID),
        (9, VerifyOutcome.INVALID),
        (10, VerifyOutcome.ERROR),
    ]
    assert "birth year" in results[5].reason
    assert results[6].reason.startswith("date_of_birth is not a date")
    assert sum(progress) == 9
    # invalid rows are never asked of the register
    assert "12345" not in population.calls
    assert summarise(results) == {"match": 2, "mismatch": 2, "invalid": 4, "error": 1}


async def test_the_report_is_a_csv_with_one_line_per_row() -> None:
    """The report lists line, citizen ID, verdict and reason under a header."""
    rows = parse_rows(
        f"citizen_id,full_name,date_of_birth\n{KNOWN},Nguyễn Văn A,1985-03-04\nx,y,z\n",
        required=VERIFY_COLUMNS,
    )
    results = await verify_rows(rows, _population(), context=lambda: CallContext.new("c"))
    out = io.StringIO()
    write_report(results, out)
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert lines[0] == list(REPORT_COLUMNS)
    assert lines[1] == ["2", KNOWN, "match", ""]
    assert lines[2][:3] == ["3", "x", "invalid"]


def test_birth_dates_in_both_common_forms() -> None:
    """ISO and day-first Vietnamese forms are both read; nonsense is refused."""
    assert parse_birth_date("1985-03-04") == dt.date(1985, 3, 4)
    assert parse_birth_date("4/3/1985") == dt.date(1985, 3, 4)
    assert parse_birth_date("04.03.1985") == dt.date(1985, 3, 4)
    for bad in ("1985-13-01", "yesterday", ""):
        try:
            parse_birth_date(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was read as a date")
