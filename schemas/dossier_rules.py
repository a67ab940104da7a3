"""The rules a dossier write must meet, whatever stores it: no SQL, no I/O.

The store's batch writer (``store.dossier_batch``) asks these functions about each write, against
the dossier as the writes before it left it, and turns a refusal into its own error:

- **registration** — a dossier enters the lifecycle submitted or accepted
  (``schemas.status.INITIAL_STATUSES``): :func:`may_register`;
- **sequence** — each event carries the dossier's next sequence (the last one plus one). An event
  whose sequence is already used is a client's retry when it equals the event stored under that
  sequence (a *replay*: answered again, nothing written), a conflict otherwise; a sequence beyond
  the next is a conflict too: :func:`check_sequence`, :func:`sequence_used`;
- **time** — an event never goes back: not before the dossier's receipt, not before the
  dossier's previous event: :func:`time_refusal`;
- **transition** — a status change follows the lifecycle's table (``schemas.status``):
  :func:`check_transition`, which raises ``schemas.errors.IllegalTransition``;
- **what an accepted write makes** — the event a registered dossier's status change stands for
  (:func:`status_change_event`), and the dossier an appended event leaves (:func:`apply_event`);
  a terminal status closes the dossier (:func:`closes`).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from schemas.models import Dossier, DossierEvent
from schemas.status import INITIAL_STATUSES, DossierStatus, check_transition, is_terminal


class SequenceCheck(StrEnum):
    """What an event's sequence makes of it."""

    #: the dossier's next sequence: append it
    NEXT = "next"
    #: the very event already stored under that sequence: answer it again, write nothing
    REPLAY = "replay"
    #: a used sequence with a different event, or one beyond the next: refuse it
    CONFLICT = "conflict"


class TimeRefusal(StrEnum):
    """Why an event's time is refused (the store's ``EventTimeConflict`` codes)."""

    #: the event happened before the dossier was received
    BEFORE_RECEIPT = "event_before_receipt"
    #: the event happened before the dossier's previous event
    OUT_OF_ORDER = "event_out_of_order"


def may_register(status: DossierStatus) -> bool:
    """Whether a new dossier may be registered with ``status`` (submitted or accepted)."""
    return status in INITIAL_STATUSES


def next_sequence(last_sequence: int) -> int:
    """The sequence the dossier's next event must carry (the first is 1)."""
    return last_sequence + 1


def sequence_used(sequence: int, last_sequence: int) -> bool:
    """Whether ``sequence`` is already taken: an event carrying it can only be a replay."""
    return sequence <= last_sequence


def check_sequence(
    event: DossierEvent, last_sequence: int, earlier: DossierEvent | None
) -> SequenceCheck:
    """Judge ``event``'s sequence against the dossier's ``last_sequence``.

    ``earlier`` is the event stored under ``event.sequence`` when that sequence is used (None
    when unknown or not used): equal to ``event``, it makes a replay.
    """
    expected = next_sequence(last_sequence)
    if event.sequence == expected:
        return SequenceCheck.NEXT
    if sequence_used(event.sequence, last_sequence) and earlier == event:
        return SequenceCheck.REPLAY
    return SequenceCheck.CONFLICT


def time_refusal(
    occurred_at: dt.datetime, received_at: dt.datetime, last_event_at: dt.datetime | None
) -> TimeRefusal | None:
    """Why an event at ``occurred_at`` goes back in time, or None when it does not."""
    if occurred_at < received_at:
        return TimeRefusal.BEFORE_RECEIPT
    if last_event_at is not None and occurred_at < last_event_at:
        return TimeRefusal.OUT_OF_ORDER
    return None


def closes(status: DossierStatus) -> bool:
    """Whether an event in ``status`` closes the dossier (a terminal status)."""
    return is_terminal(status)


def status_change_event(
    current: Dossier, updated: Dossier, last_sequence: int
) -> DossierEvent | None:
    """The event a registered dossier's update stands for: its status change, checked against
    the lifecycle (``IllegalTransition``), as the next step at the update's time; None when the
    status stays."""
    if updated.status == current.status:
        return None
    check_transition(current.status, updated.status)
    return DossierEvent(
        dossier_code=updated.code,
        sequence=next_sequence(last_sequence),
        status=updated.status,
        occurred_at=updated.updated_at,
    )


def apply_event(current: Dossier, event: DossierEvent) -> Dossier:
    """The dossier ``event`` leaves: its status, updated no earlier than it was.

    The move is checked against the lifecycle first (``IllegalTransition``).
    """
    check_transition(current.status, event.status)
    return current.model_copy(
        update={"status": event.status, "updated_at": max(current.updated_at, event.occurred_at)}
    )


__all__ = [
    "SequenceCheck",
    "TimeRefusal",
    "apply_event",
    "check_sequence",
    "check_transition",
    "closes",
    "may_register",
    "next_sequence",
    "sequence_used",
    "status_change_event",
    "time_refusal",
]
