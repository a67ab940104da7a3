"""The timeliness class of one dossier: early, on time, late; or, still open, on track, at risk,
overdue — with the working days used and the working days paused.

A resolved dossier's class is fixed when it is resolved (the store's ``outcome``). An open one
is classed against now: overdue past its effective due instant; at risk when no more than
``at_risk_hours`` office hours remain; on track otherwise. While it is paused (and paused time
does not count) its due instant moves with the pause, so it cannot fall overdue while the
applicant holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum

from schemas.status import DossierStatus
from schemas.times import VN_TZ
from store.deadline_rules import CLOSED_STATUSES, DeadlineFacts, Outcome
from timeliness.calendar import DEFAULT_CUTOFF, WorkingCalendar


class TimelinessClass(StrEnum):
    """Where a dossier stands against its due date."""

    EARLY = "early"
    ON_TIME = "on_time"
    LATE = "late"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OVERDUE = "overdue"
    #: refused, withdrawn or stopped: outside the on-time rates
    CLOSED = "closed"
    #: no due date (the procedure's processing time is unknown and none was given)
    NO_DUE_DATE = "no_due_date"


_RESOLVED = {
    Outcome.EARLY: TimelinessClass.EARLY,
    Outcome.ON_TIME: TimelinessClass.ON_TIME,
    Outcome.LATE: TimelinessClass.LATE,
}


@dataclass(frozen=True, slots=True)
class Classification:
    """A dossier's class and the figures behind it."""

    state: TimelinessClass
    due_at: datetime | None
    working_days_used: int | None
    working_days_paused: int
    paused: bool
    due_warning: str | None = None


@dataclass(frozen=True)
class Classifier:
    """Classes dossiers with one calendar and one set of settings."""

    calendar: WorkingCalendar
    at_risk_hours: float = 8.0
    cutoff: time = DEFAULT_CUTOFF
    counts_paused_time: bool = False

    def classify(
        self, facts: DeadlineFacts, status: DossierStatus, now: datetime
    ) -> Classification:
        """The class of a dossier with these stored ``facts`` and ``status`` at ``now``."""
        ongoing = 0
        if facts.paused_since is not None and facts.resolved_at is None:
            ongoing = self.calendar.working_days_between(
                facts.paused_since.astimezone(VN_TZ).date(), now.astimezone(VN_TZ).date()
            )
        paused = facts.paused_working_days + ongoing
        due = facts.due_at
        if due is not None and ongoing and not self.counts_paused_time:
            due = self.calendar.extend(due, ongoing)
        used = self._used(facts, now, paused)
        state: TimelinessClass
        if facts.outcome is not None:
            state = _RESOLVED[facts.outcome]
        elif status in CLOSED_STATUSES:
            state = TimelinessClass.CLOSED
        elif due is None or facts.resolved_at is not None:
            state = TimelinessClass.NO_DUE_DATE
        else:
            state = self.open_class(due, now)
        return Classification(
            state=state,
            due_at=due,
            working_days_used=used,
            working_days_paused=paused,
            paused=facts.paused_since is not None,
            due_warning=facts.due_warning,
        )

    def open_class(self, due_at: datetime, now: datetime) -> TimelinessClass:
        """Overdue after ``due_at``; at risk with ``at_risk_hours`` office hours or fewer left."""
        if now > due_at:
            return TimelinessClass.OVERDUE
        if self.calendar.working_hours_between(now, due_at) <= self.at_risk_hours:
            return TimelinessClass.AT_RISK
        return TimelinessClass.ON_TRACK

    def _used(self, facts: DeadlineFacts, now: datetime, paused: int) -> int | None:
        if facts.received_at is None:
            return None
        start = self.calendar.receipt_day(facts.received_at, self.cutoff)
        end = (facts.resolved_at or now).astimezone(VN_TZ).date()
        elapsed = self.calendar.working_days_between(start, end)
        return elapsed if self.counts_paused_time else max(0, elapsed - paused)
