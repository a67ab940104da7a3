"""``lienthong calendar``: show a year's working-day calendar, count working days from a date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from timeliness.calendar import WorkingCalendar
from timeliness.errors import CalendarError

_overrides_option = click.option(
    "--overrides",
    "overrides_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LIENTHONG_CALENDAR_OVERRIDES_DIR",
    default=None,
    help="Folder of YEAR.toml override files (the shipped ones when absent).",
)

_WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")


def _load(overrides_dir: Path | None) -> WorkingCalendar:
    try:
        return WorkingCalendar.load(overrides_dir)
    except CalendarError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def calendar() -> None:
    """Vietnam's working-day calendar (public holidays plus the yearly override files)."""


@calendar.command("show")
@click.argument("year", type=click.IntRange(1976, 2199))
@_overrides_option
def show(year: int, overrides_dir: Path | None) -> None:
    """List YEAR's days off on weekdays and weekend days worked, and its working-day count."""
    cal = _load(overrides_dir)
    try:
        days = list(cal.exceptions_in(year))
        total = cal.working_days_count(year)
    except CalendarError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{year}: {total} working days")
    for entry in days:
        kind = "làm việc" if entry.working else "nghỉ"
        weekday = _WEEKDAYS[entry.day.weekday()]
        click.echo(f"{entry.day.isoformat()}  {weekday:<9} {kind:<9} {entry.reason}")


@calendar.command("add-days")
@click.argument("start", metavar="FROM", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.argument("n", type=click.IntRange(0, 3650))
@_overrides_option
def add_days(start: object, n: int, overrides_dir: Path | None) -> None:
    """Print the N-th working day after FROM (YYYY-MM-DD; N = 0: FROM or the next working day)."""
    assert hasattr(start, "date")
    day: date = start.date()
    cal = _load(overrides_dir)
    try:
        result = cal.add_working_days(day, n)
    except CalendarError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{result.isoformat()} {_WEEKDAYS[result.weekday()]}")
