"""Vietnam's working days, the unit every deadline of an administrative procedure is counted in.

A day is a working day when it is Monday to Friday and not a public holiday, unless the year's
override file says otherwise. Public holidays, the lunar ones included (Tết, Hùng Kings' day),
come from the maintained `holidays` package; each year the Government also moves working days
(a Saturday worked so that a Friday beside a holiday is off) and those arrive in
``calendar_overrides/YEAR.toml``: ``[[working_day]]`` tables for weekend days worked and
``[[day_off]]`` tables for extra days off. The override file wins over the package.

Counting (the rule the one-stop-shop decrees state): a deadline of N working days counts from
the day after receipt; a dossier received after the cut-off (15:00 by default) or on a day that
is not a working day is taken as received on the next working day, so its count starts the day
after that. The result is due at the close of the N-th counted working day, 17:00 Vietnam time.
"""

from __future__ import annotations

import tomllib
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import holidays

from schemas.times import VN_TZ, ensure_aware
from timeliness.errors import InvalidCalendarArgument, InvalidOverrideFile

#: The public offices' closing time: a deadline falls due at this time on its last working day.
CLOSING_TIME = time(17, 0)
#: The public offices' opening time, used when remaining time is counted in working hours.
OPENING_TIME = time(8, 0)
#: The default cut-off: a dossier received later than this counts from the next working day.
DEFAULT_CUTOFF = time(15, 0)
#: Years the calendar answers for (the `holidays` package and the wire formats agree on these).
MIN_YEAR, MAX_YEAR = 1976, 2199


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """One day that departs from the plain Monday-to-Friday week, and why."""

    day: date
    working: bool
    reason: str


class WorkingCalendar:
    """Vietnam's working days: weekends and public holidays (the `holidays` package, lunar ones
    included) off, plus a yearly override file of moved working days and extra days off."""

    def __init__(
        self,
        *,
        extra_working_days: Mapping[date, str] | None = None,
        extra_days_off: Mapping[date, str] | None = None,
        opening: time = OPENING_TIME,
        closing: time = CLOSING_TIME,
    ) -> None:
        self._working = dict(extra_working_days or {})
        self._off = dict(extra_days_off or {})
        clash = sorted(set(self._working) & set(self._off))
        if clash:
            raise InvalidCalendarArgument(f"{clash[0]} is both a working day and a day off")
        if not opening < closing:
            raise InvalidCalendarArgument("the opening time must be before the closing time")
        self.opening = opening
        self.closing = closing
        self._holidays: dict[int, Mapping[date, str]] = {}
        self._years: dict[int, list[int]] = {}

    @classmethod
    def load(cls, overrides_dir: Path | None = None) -> WorkingCalendar:
        """The calendar with every ``YEAR.toml`` in ``overrides_dir`` (shipped files if None)."""
        working: dict[date, str] = {}
        off: dict[date, str] = {}
        for name, text in _override_texts(overrides_dir):
            year_working, year_off = parse_override(text, source=name)
            working.update(year_working)
            off.update(year_off)
        return cls(extra_working_days=working, extra_days_off=off)

    # -- days ---------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """True when ``day`` is a working day of Vietnam's public offices."""
        _check_year(day.year)
        if day in self._off:
            return False
        if day in self._working:
            return True
        holidays_of_year = self._holidays_of(day.year)
        if day in holidays_of_year:
            return False
        return day.weekday() < 5 or day in _package_weekend_workdays(day.year)

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``n == 0``: ``start`` itself if it is a
        working day, else the next working day)."""
        if n < 0:
            raise InvalidCalendarArgument("the number of working days must be 0 or more")
        if n == 0:
            return start if self.is_working_day(start) else self.add_working_days(start, 1)
        year = start.year
        ordinals = self._working_ordinals(year)
        index = bisect_right(ordinals, start.toordinal())
        remaining = n
        while index + remaining > len(ordinals):
            remaining -= len(ordinals) - index
            year += 1
            ordinals = self._working_ordinals(year)
            index = 0
        return date.fromordinal(ordinals[index + remaining - 1])

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        return self.add_working_days(day, 1)

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days in ``(start, end]`` (0 when ``end <= start``)."""
        if end <= start:
            return 0
        count = 0
        for year in range(start.year, end.year + 1):
            ordinals = self._working_ordinals(year)
            low = bisect_right(ordinals, start.toordinal())
            high = bisect_right(ordinals, end.toordinal())
            count += high - low
        return count

    def working_days_in(self, year: int) -> list[date]:
        """Every working day of ``year``, in order."""
        return [date.fromordinal(o) for o in self._working_ordinals(year)]

    def exceptions_in(self, year: int) -> Iterator[CalendarDay]:
        """The days of ``year`` that depart from the plain week: holidays and extra days off on
        weekdays, weekend days worked; with the reason for each, in date order."""
        day = date(year, 1, 1)
        while day.year == year:
            working = self.is_working_day(day)
            if working != (day.weekday() < 5):
                yield CalendarDay(day, working, self._reason(day, working))
            day += timedelta(days=1)

    # -- counting a deadline ------------------------------------------------------------------

    def receipt_day(self, received_at: datetime, cutoff: time = DEFAULT_CUTOFF) -> date:
        """The working day a receipt is taken to happen on: its own day when that is a working
        day and the receipt is not later than ``cutoff``, else the next working day."""
        local = ensure_aware(received_at, field="received_at").astimezone(VN_TZ)
        day = local.date()
        if not self.is_working_day(day) or local.time().replace(tzinfo=None) > cutoff:
            return self.next_working_day(day)
        return day

    def counting_start(self, received_at: datetime, cutoff: time = DEFAULT_CUTOFF) -> date:
        """The first day counted: the day after receipt; for a receipt after ``cutoff`` (or on a
        day off) the day after the next working day."""
        return self.receipt_day(received_at, cutoff) + timedelta(days=1)

    def due_date(
        self, received_at: datetime, working_days: int, cutoff: time = DEFAULT_CUTOFF
    ) -> date:
        """The last working day of a ``working_days`` deadline received at ``received_at``
        (``0``: the receipt day itself, a same-day procedure)."""
        return self.add_working_days(self.receipt_day(received_at, cutoff), working_days)

    def due_at(
        self, received_at: datetime, working_days: int, cutoff: time = DEFAULT_CUTOFF
    ) -> datetime:
        """The instant a ``working_days`` deadline falls due: the closing time of its last
        working day, aware, in Asia/Ho_Chi_Minh."""
        return self.close_of(self.due_date(received_at, working_days, cutoff))

    def close_of(self, day: date) -> datetime:
        """The closing time of ``day`` in Vietnam time, aware."""
        return datetime.combine(day, self.closing, tzinfo=VN_TZ)

    def extend(self, due_at: datetime, working_days: int) -> datetime:
        """A due instant moved ``working_days`` working days later (its time of day kept)."""
        if working_days == 0:
            return due_at
        local = ensure_aware(due_at, field="due_at").astimezone(VN_TZ)
        moved = self.add_working_days(local.date(), working_days)
        return datetime.combine(moved, local.timetz())

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Office hours (``opening`` to ``closing`` on working days) between two instants."""
        start_vn = ensure_aware(start, field="start").astimezone(VN_TZ)
        end_vn = ensure_aware(end, field="end").astimezone(VN_TZ)
        if end_vn <= start_vn:
            return 0.0
        seconds = 0.0
        day = start_vn.date()
        while day <= end_vn.date():
            if self.is_working_day(day):
                lo = max(start_vn, datetime.combine(day, self.opening, tzinfo=VN_TZ))
                hi = min(end_vn, datetime.combine(day, self.closing, tzinfo=VN_TZ))
                if hi > lo:
                    seconds += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return seconds / 3600.0

    # -- internals ----------------------------------------------------------------------------

    def _holidays_of(self, year: int) -> Mapping[date, str]:
        found = self._holidays.get(year)
        if found is None:
            found = dict(holidays.country_holidays("VN", years=year, language="vi").items())
            self._holidays[year] = found
        return found

    def _working_ordinals(self, year: int) -> list[int]:
        _check_year(year)
        found = self._years.get(year)
        if found is None:
            first = date(year, 1, 1).toordinal()
            last = date(year, 12, 31).toordinal()
            found = [o for o in range(first, last + 1) if self.is_working_day(date.fromordinal(o))]
            self._years[year] = found
        return found

    def _reason(self, day: date, working: bool) -> str:
        if day in self._off:
            return self._off[day]
        if day in self._working:
            return self._working[day]
        if not working:
            return self._holidays_of(day.year).get(day, "")
        return "Ngày làm việc bù (theo thư viện holidays)"

    def first_working_day_on_or_after(self, day: date) -> date:
        """``day`` when it is a working day, else the next working day."""
        return self.add_working_days(day, 0)

    def working_days_count(self, year: int) -> int:
        """How many working days ``year`` has."""
        return len(self._working_ordinals(year))


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidCalendarArgument(f"the calendar answers for {MIN_YEAR} to {MAX_YEAR} only")


def _package_weekend_workdays(year: int) -> frozenset[date]:
    found = _WEEKEND_WORKDAYS.get(year)
    if found is None:
        calendar = holidays.country_holidays("VN", years=year)
        found = frozenset(d for d in calendar.weekend_workdays if d.year == year)
        _WEEKEND_WORKDAYS[year] = found
    return found


_WEEKEND_WORKDAYS: dict[int, frozenset[date]] = {}


def _override_texts(overrides_dir: Path | None) -> Iterator[tuple[str, str]]:
    if overrides_dir is not None:
        if not overrides_dir.is_dir():
            raise InvalidOverrideFile("not a folder", path=str(overrides_dir))
        for path in sorted(overrides_dir.glob("*.toml")):
            yield path.name, path.read_text(encoding="utf-8")
        return
    folder = resources.files("timeliness").joinpath("calendar_overrides")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            yield entry.name, entry.read_text(encoding="utf-8")


def parse_override(text: str, *, source: str) -> tuple[dict[date, str], dict[date, str]]:
    """The moved working days and extra days off one ``YEAR.toml`` declares."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidOverrideFile(f"not valid TOML ({exc})", path=source) from exc
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidOverrideFile("needs `year = YYYY`", path=source)
    if source.endswith(".toml") and source[:-5].isdigit() and int(source[:-5]) != year:
        raise InvalidOverrideFile(f"declares year {year} in a file named {source}", path=source)
    unknown = set(data) - {"year", "working_day", "day_off"}
    if unknown:
        raise InvalidOverrideFile(f"unknown key {sorted(unknown)[0]!r}", path=source)
    working = _entries(data.get("working_day", []), year, "working_day", source)
    off = _entries(data.get("day_off", []), year, "day_off", source)
    clash = sorted(set(working) & set(off))
    if clash:
        raise InvalidOverrideFile(f"{clash[0]} is both a working day and a day off", path=source)
    return working, off


def _entries(raw: Any, year: int, key: str, source: str) -> dict[date, str]:
    if not isinstance(raw, list):
        raise InvalidOverrideFile(f"`{key}` must be an array of tables", path=source)
    found: dict[date, str] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            raise InvalidOverrideFile(f"`{key}` must be an array of tables", path=source)
        day = entry.get("date")
        reason = entry.get("reason", "")
        if type(day) is not date or day.year != year:
            raise InvalidOverrideFile(f"`{key}.date` must be a date in {year}", path=source)
        if not isinstance(reason, str):
            raise InvalidOverrideFile(f"`{key}.reason` must be a string", path=source)
        if day in found:
            raise InvalidOverrideFile(f"{day} is listed twice in `{key}`", path=source)
        found[day] = reason
    return found
