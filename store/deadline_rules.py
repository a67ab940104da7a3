"""What the store keeps about a dossier's deadline, and the rules it asks to keep it.

Every dossier row carries the inputs of its timeliness class in columns, so the report is one
aggregate query over an index (never dossiers loaded into Python):

- ``received_at``, ``procedure_code``, ``agency_code``: copied from the dossier;
- ``due_at``: the effective due instant: the dossier's appointment (``Dossier.due_at``, given
  or computed from the procedure's processing time) moved later by the working days the
  applicant held it, unless paused time counts against the agency;
- ``paused_since``: when the dossier entered "more documents requested" (5) or "fees due" (6),
  while it is there; ``paused_working_days``: the working days of the pauses ended so far;
- ``resolved_at``: when the dossier first reached "processed" (9) or "result delivered" (10);
- ``outcome``: for a resolved dossier, early (1), on time (2) or late (3) against ``due_at``;
- ``due_warning``: why a due date the caller gave contradicts its procedure's, if it does.

Counting working days needs the calendar, which the store does not own: the caller passes a
:class:`DeadlineRules` (``timeliness.rules.CalendarRules``). Without one, due dates are taken as
given and pauses are not counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from schemas.models import Dossier
from schemas.status import DossierStatus
from schemas.times import VN_TZ

#: the statuses in which the applicant, not the agency, holds the dossier
PAUSED_STATUSES = frozenset({DossierStatus.MORE_DOCUMENTS_REQUESTED, DossierStatus.FEES_DUE})
#: the statuses that mean the agency has resolved the dossier
RESOLVED_STATUSES = frozenset({DossierStatus.PROCESSED, DossierStatus.RESULT_DELIVERED})
#: closed without a result (refused, withdrawn, stopped): outside the on-time rates
CLOSED_STATUSES = frozenset({DossierStatus.REFUSED, DossierStatus.WITHDRAWN, DossierStatus.STOPPED})


class Outcome(IntEnum):
    """How a resolved dossier met its due date (the ``outcome`` column)."""

    EARLY = 1
    ON_TIME = 2
    LATE = 3


def outcome_of(due_at: dt.datetime, resolved_at: dt.datetime) -> Outcome:
    """Early when resolved on a day before the due day (Vietnam time), on time when resolved
    by the due instant, late after it."""
    if resolved_at > due_at:
        return Outcome.LATE
    if resolved_at.astimezone(VN_TZ).date() < due_at.astimezone(VN_TZ).date():
        return Outcome.EARLY
    return Outcome.ON_TIME


class DeadlineRules(Protocol):
    """The calendar-dependent rules the store applies when it writes a dossier."""

    @property
    def counts_paused_time(self) -> bool:
        """Whether time in ``PAUSED_STATUSES`` counts against the agency (no extension)."""
        ...

    def prepare(self, dossier: Dossier) -> tuple[dt.datetime | None, str | None]:
        """The due instant computed for ``dossier`` (None if its procedure's time is unknown)
        and, when the dossier carries a due date that contradicts it, a warning."""
        ...

    def paused_working_days(self, since: dt.datetime, until: dt.datetime) -> int:
        """The working days a pause from ``since`` to ``until`` covers."""
        ...

    def extend_due(self, due_at: dt.datetime, working_days: int) -> dt.datetime:
        """``due_at`` moved ``working_days`` working days later."""
        ...


@dataclass(frozen=True, slots=True)
class DeadlineFacts:
    """A dossier's timeliness columns as stored (see the module docstring)."""

    received_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    paused_since: dt.datetime | None = None
    paused_working_days: int = 0
    outcome: Outcome | None = None
    due_warning: str | None = None


def advance(
    facts: DeadlineFacts,
    dossier: Dossier,
    previous: DossierStatus | None,
    at: dt.datetime,
    rules: DeadlineRules | None,
    *,
    warning: str | None = None,
) -> DeadlineFacts:
    """The facts after ``dossier`` (now in its new status, moved at ``at``) was written."""
    status = dossier.status
    paused_since, paused_days = facts.paused_since, facts.paused_working_days
    resolved_at = facts.resolved_at
    if previous is not None and previous != status:
        if status in PAUSED_STATUSES and paused_since is None:
            paused_since = at
        elif status not in PAUSED_STATUSES and paused_since is not None:
            if rules is not None:
                paused_days += rules.paused_working_days(paused_since, at)
            paused_since = None
        if status in RESOLVED_STATUSES and resolved_at is None:
            resolved_at = at
    elif previous is None and status in RESOLVED_STATUSES and resolved_at is None:
        resolved_at = at
    due_at = dossier.due_at
    if due_at is not None and rules is not None and not rules.counts_paused_time and paused_days:
        due_at = rules.extend_due(due_at, paused_days)
    outcome = outcome_of(due_at, resolved_at) if due_at and resolved_at else None
    return DeadlineFacts(
        received_at=dossier.received_at,
        due_at=due_at,
        resolved_at=resolved_at,
        paused_since=paused_since,
        paused_working_days=paused_days,
        outcome=outcome,
        due_warning=warning if warning is not None else facts.due_warning,
    )


def facts_columns(facts: DeadlineFacts, prefix: str = "") -> dict[str, object]:
    """The facts as ``dossiers`` column values (keys prefixed for bound parameters)."""
    return {
        f"{prefix}received_at": facts.received_at,
        f"{prefix}due_at": facts.due_at,
        f"{prefix}resolved_at": facts.resolved_at,
        f"{prefix}paused_since": facts.paused_since,
        f"{prefix}paused_working_days": facts.paused_working_days,
        f"{prefix}outcome": int(facts.outcome) if facts.outcome is not None else None,
        f"{prefix}due_warning": facts.due_warning,
    }


def facts_from_row(row: object) -> DeadlineFacts:
    """The facts of a ``dossiers`` row."""
    outcome = getattr(row, "outcome", None)
    return DeadlineFacts(
        received_at=getattr(row, "received_at", None),
        due_at=getattr(row, "due_at", None),
        resolved_at=getattr(row, "resolved_at", None),
        paused_since=getattr(row, "paused_since", None),
        paused_working_days=int(getattr(row, "paused_working_days", 0) or 0),
        outcome=Outcome(outcome) if outcome is not None else None,
        due_warning=getattr(row, "due_warning", None),
    )


__all__ = [
    "CLOSED_STATUSES",
    "PAUSED_STATUSES",
    "RESOLVED_STATUSES",
    "DeadlineFacts",
    "DeadlineRules",
    "Outcome",
    "advance",
    "facts_columns",
    "facts_from_row",
    "outcome_of",
]
