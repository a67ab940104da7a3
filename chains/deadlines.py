"""Chain and step deadlines on the working-day calendar, and the working days a step used.

The published rules for a chain: the whole chain within its limit (3 working days, 5 when an
agency asked for verification), counted from the filing; each step with a limit of its own
(residence 2, 5 with verification; the card 2) counted from when it reached its agency. In both
cases a filing (or a step handed on) after the cut-off, 15:00, counts from the next working day
(``timeliness.calendar.WorkingCalendar``: counting starts the day after the receipt day, and the
deadline falls at the close of its last working day).

A verification request moves the deadlines: the chain's to its verification limit (from the
same filing), the asking step's to its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from schemas.times import VN_TZ


class WorkingDays(Protocol):
    """What the deadlines need of a working-day calendar (``WorkingCalendar`` has it)."""

    def receipt_day(self, received_at: dt.datetime, cutoff: dt.time = ...) -> dt.date:
        """The working day a receipt counts as happening on."""
        ...

    def due_at(
        self, received_at: dt.datetime, working_days: int, cutoff: dt.time = ...
    ) -> dt.datetime:
        """The instant a deadline of ``working_days`` falls due."""
        ...

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in ``(start, end]``."""
        ...


def due(
    calendar: WorkingDays, started_at: dt.datetime, working_days: int | None, cutoff: dt.time
) -> dt.datetime | None:
    """When a limit of ``working_days`` started at ``started_at`` falls due (None: no limit)."""
    if working_days is None:
        return None
    return calendar.due_at(started_at, working_days, cutoff)


def working_days_used(
    calendar: WorkingDays, started_at: dt.datetime, until: dt.datetime, cutoff: dt.time
) -> int:
    """Working days counted from ``started_at`` (by the cut-off rule) to ``until``'s day."""
    receipt = calendar.receipt_day(started_at, cutoff)
    return calendar.working_days_between(receipt, until.astimezone(VN_TZ).date())


def is_late(due_at: dt.datetime | None, finished_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a step or chain is past its deadline (finished after it, or unfinished and past)."""
    if due_at is None:
        return False
    return (finished_at or now) > due_at


__all__ = ["WorkingDays", "due", "is_late", "working_days_used"]
