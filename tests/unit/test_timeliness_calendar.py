"""The working-day calendar against dates worked out by hand (Tết 2026, the New Year swap of
2026, weekends, the 15:00 cut-off)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from click.testing import CliRunner

from lienthong.cli import main
from schemas.times import VN_TZ
from timeliness.calendar import WorkingCalendar, parse_override
from timeliness.errors import InvalidCalendarArgument, InvalidOverrideFile


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.load()


def vn(y: int, m: int, d: int, hh: int = 10, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=VN_TZ)


def test_tet_2026_is_nine_days_off(cal: WorkingCalendar) -> None:
    """Saturday 14 to Sunday 22 February 2026 are all days off; the Friday before and the
    Monday after are working days."""
    assert cal.is_working_day(date(2026, 2, 13))
    assert not any(cal.is_working_day(date(2026, 2, d)) for d in range(14, 23))
    assert cal.is_working_day(date(2026, 2, 23))


def test_due_date_across_tet(cal: WorkingCalendar) -> None:
    """Received Thursday 12 Feb 2026 at 10:00, five working days: Fri 13 (1), then Tết and two
    weekends, Mon 23 (2), Tue 24 (3), Wed 25 (4), Thu 26 (5) — due Thursday 26 Feb at 17:00."""
    due = cal.due_at(vn(2026, 2, 12), 5)
    assert due == datetime(2026, 2, 26, 17, 0, tzinfo=VN_TZ)
    assert due.tzinfo is not None
    assert cal.working_days_between(date(2026, 2, 12), date(2026, 2, 26)) == 5


def test_due_date_across_the_moved_new_year_days(cal: WorkingCalendar) -> None:
    """Received Wednesday 31 Dec 2025 at 16:00 (after the cut-off), five working days. The
    receipt counts on the next working day: Thu 1 Jan is New Year, Fri 2 Jan was swapped off,
    then the weekend, so Mon 5 Jan; counting Tue 6 (1), Wed 7 (2), Thu 8 (3), Fri 9 (4) and the
    Saturday 10 Jan worked in exchange (5)."""
    assert not cal.is_working_day(date(2026, 1, 2))
    assert cal.is_working_day(date(2026, 1, 10))
    assert cal.receipt_day(vn(2025, 12, 31, 16, 0)) == date(2026, 1, 5)
    assert cal.counting_start(vn(2025, 12, 31, 16, 0), time(15, 0)) == date(2026, 1, 6)
    assert cal.due_at(vn(2025, 12, 31, 16, 0), 5) == datetime(2026, 1, 10, 17, tzinfo=VN_TZ)


def test_without_the_override_file_the_swap_is_not_known(tmp_path: Path) -> None:
    """With an empty override folder Friday 2 Jan 2026 is an ordinary working day and
    Saturday 10 Jan is not: the shipped file is what moves them."""
    bare = WorkingCalendar.load(tmp_path)
    assert bare.is_working_day(date(2026, 1, 2))
    assert not bare.is_working_day(date(2026, 1, 10))
    assert bare.due_at(vn(2025, 12, 31, 16, 0), 5) == datetime(2026, 1, 9, 17, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("received", "due_day"),
    [
        (vn(2026, 3, 6, 14, 59), date(2026, 3, 9)),  # Friday before the cut-off: Monday
        (vn(2026, 3, 6, 15, 0), date(2026, 3, 9)),  # 15:00 itself is not after it
        (vn(2026, 3, 6, 15, 0, 1), date(2026, 3, 10)),  # after: taken as Monday, due Tuesday
        (vn(2026, 3, 7, 9, 0), date(2026, 3, 10)),  # a Saturday: taken as Monday
        (datetime(2026, 3, 6, 8, 30, tzinfo=UTC), date(2026, 3, 10)),  # 15:30 in Vietnam
    ],
)
def test_one_working_day_over_a_weekend_and_the_cut_off(
    cal: WorkingCalendar, received: datetime, due_day: date
) -> None:
    """A one-day procedure received on a Friday is due Monday, or Tuesday when the receipt is
    after 15:00 Vietnam time or falls on the weekend."""
    assert cal.due_at(received, 1) == datetime.combine(due_day, time(17), tzinfo=VN_TZ)


def test_the_cut_off_is_a_parameter(cal: WorkingCalendar) -> None:
    """With a 16:30 cut-off a receipt at 16:00 Friday still counts from Friday."""
    assert cal.due_date(vn(2026, 3, 6, 16, 0), 1, time(16, 30)) == date(2026, 3, 9)


def test_add_working_days_zero_and_counting(cal: WorkingCalendar) -> None:
    """n = 0 is the day itself when working, else the next working day; n counts strictly after."""
    assert cal.add_working_days(date(2026, 3, 6), 0) == date(2026, 3, 6)
    assert cal.add_working_days(date(2026, 3, 7), 0) == date(2026, 3, 9)
    assert cal.add_working_days(date(2026, 3, 7), 1) == date(2026, 3, 9)
    assert cal.add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 9)
    assert cal.add_working_days(date(2026, 12, 30), 3) == date(2027, 1, 5)  # 31 Dec, 4 Jan, 5 Jan
    with pytest.raises(InvalidCalendarArgument):
        cal.add_working_days(date(2026, 3, 6), -1)


def test_working_days_between_is_half_open(cal: WorkingCalendar) -> None:
    """(start, end]: the start day is not counted, the end day is; empty when end <= start."""
    assert cal.working_days_between(date(2026, 3, 6), date(2026, 3, 9)) == 1
    assert cal.working_days_between(date(2026, 3, 9), date(2026, 3, 9)) == 0
    assert cal.working_days_between(date(2026, 3, 9), date(2026, 3, 6)) == 0
    assert cal.working_days_between(date(2025, 12, 31), date(2026, 1, 12)) == 7  # 5-10 Jan, 12 Jan


def test_naive_receipt_is_refused(cal: WorkingCalendar) -> None:
    """A receipt time without a time zone is an error, not a guess."""
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.due_at(datetime(2026, 3, 6, 10), 1)


def test_working_hours_between(cal: WorkingCalendar) -> None:
    """Office hours count 08:00-17:00 on working days only (Friday 16:00 to Monday 09:00: 2 h)."""
    assert cal.working_hours_between(vn(2026, 3, 6, 16), vn(2026, 3, 9, 9)) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("year = 2026\n[[day_off]]\ndate = 2025-01-02\n", "must be a date in 2026"),
        ("year = 2026\n[[day_off]]\ndate = '2026-01-02'\n", "must be a date in 2026"),
        ("[[day_off]]\ndate = 2026-01-02\n", "needs `year"),
        ("year = 2026\nholiday = 1\n", "unknown key"),
        (
            "year = 2026\n[[day_off]]\ndate = 2026-01-02\n[[working_day]]\ndate = 2026-01-02\n",
            "both",
        ),
        ("year = 2026\n[[day_off\n", "not valid TOML"),
    ],
)
def test_malformed_override_files_are_refused(text: str, message: str) -> None:
    """Each malformation of an override file is named in the error."""
    with pytest.raises(InvalidOverrideFile, match=message):
        parse_override(text, source="2026.toml")


def test_override_file_year_must_match_its_name() -> None:
    """A file 2027.toml that declares 2026 is refused."""
    with pytest.raises(InvalidOverrideFile, match=r"2027\.toml"):
        parse_override("year = 2026\n", source="2027.toml")


def test_cli_show_and_add_days() -> None:
    """``calendar show 2026`` lists the swapped days; ``add-days`` prints the working day."""
    runner = CliRunner()
    shown = runner.invoke(main, ["calendar", "show", "2026"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert any(line.startswith("2026-01-02") and "nghỉ" in line for line in lines)
    assert any(line.startswith("2026-01-10") and "làm việc" in line for line in lines)
    assert any(line.startswith("2026-02-17") and "Tết" in line for line in lines)
    added = runner.invoke(main, ["calendar", "add-days", "2026-02-12", "5"])
    assert added.exit_code == 0, added.output
    assert added.output.startswith("2026-02-26")


def test_cli_bad_input_is_one_line() -> None:
    """A bad date or a negative count exits non-zero with a message, not a traceback."""
    runner = CliRunner()
    for args in (["add-days", "2026-13-01", "1"], ["add-days", "2026-01-01", "-1"]):
        result = runner.invoke(main, ["calendar", *args])
        assert result.exit_code != 0
        assert "Traceback" not in result.output
