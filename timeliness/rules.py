"""The deadline rules the store applies on every write, made of the calendar and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from schemas.models import Dossier
from schemas.times import VN_TZ
from store.deadline_rules import DeadlineRules
from timeliness.calendar import DEFAULT_CUTOFF, WorkingCalendar
from timeliness.procedures import ProcedureDeadlines


@dataclass(frozen=True)
class CalendarRules(DeadlineRules):
    """Due dates from the procedure table and the calendar; pauses counted in working days.

    ``counts_paused_time``: when False (the default, the usual rule) the working days a
    dossier spends with the applicant (documents requested, fees due) move its due date later.
    """

    calendar: WorkingCalendar
    procedures: ProcedureDeadlines
    cutoff: time = DEFAULT_CUTOFF
    pauses_count: bool = False

    @property
    def counts_paused_time(self) -> bool:
        """Whether paused time counts against the agency."""
        return self.pauses_count

    def computed_due(self, dossier: Dossier) -> datetime | None:
        """The due instant the procedure's processing time gives, or None when unknown."""
        days = self.procedures.get(dossier.procedure_code)
        if days is None:
            return None
        return self.calendar.due_at(dossier.received_at, days, self.cutoff)

    def prepare(self, dossier: Dossier) -> tuple[datetime | None, str | None]:
        """The computed due instant, and a warning when the dossier's own contradicts it."""
        computed = self.computed_due(dossier)
        if computed is None or dossier.due_at is None:
            return computed, None
        given_day = dossier.due_at.astimezone(VN_TZ).date()
        if given_day == computed.date():
            return computed, None
        days = self.procedures.get(dossier.procedure_code)
        return computed, (
            f"due_at {given_day.isoformat()} contradicts procedure {dossier.procedure_code}: "
            f"{days} working days from receipt fall due on {computed.date().isoformat()}"
        )

    def paused_working_days(self, since: datetime, until: datetime) -> int:
        """Working days in (the pause's first day, its last day], in Vietnam time."""
        return self.calendar.working_days_between(
            since.astimezone(VN_TZ).date(), until.astimezone(VN_TZ).date()
        )

    def extend_due(self, due_at: datetime, working_days: int) -> datetime:
        """``due_at`` moved ``working_days`` working days later."""
        return self.calendar.extend(due_at, working_days)
