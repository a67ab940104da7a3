"""The timeliness classes at each boundary, against instants worked out by hand.

The dossier was received Thursday 26 Nov 2026 at 08:30 and is due Thursday 3 Dec at 17:00
(five working days: 27, 30 Nov, 1, 2, 3 Dec).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from schemas.status import DossierStatus
from schemas.times import VN_TZ
from store.deadline_rules import DeadlineFacts, Outcome, outcome_of
from timeliness.calendar import WorkingCalendar
from timeliness.classify import Classifier, TimelinessClass

S = DossierStatus
C = TimelinessClass
RECEIVED = datetime(2026, 11, 26, 8, 30, tzinfo=VN_TZ)
DUE = datetime(2026, 12, 3, 17, 0, tzinfo=VN_TZ)
SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(WorkingCalendar.load(), at_risk_hours=8)


def vn(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("resolved", "expected"),
    [
        (vn(2, 23, 59, 59), Outcome.EARLY),  # the last second of the day before the due day
        (vn(3, 0, 0, 0), Outcome.ON_TIME),  # the due day's first second
        (DUE, Outcome.ON_TIME),  # the due instant itself
        (DUE + SECOND, Outcome.LATE),
    ],
)
def test_resolved_outcome_boundaries(resolved: datetime, expected: Outcome) -> None:
    """Early before the due day (Vietnam time), on time up to the due instant, late after."""
    assert outcome_of(DUE, resolved) is expected


def test_outcome_reads_the_day_in_vietnam_time() -> None:
    """17:30 UTC on 2 Dec is 00:30 on 3 Dec in Vietnam: on time, not early."""
    from datetime import UTC

    assert outcome_of(DUE, datetime(2026, 12, 2, 17, 30, tzinfo=UTC)) is Outcome.ON_TIME


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (vn(2, 17, 0), C.ON_TRACK),  # 9 office hours left (Thursday 08:00-17:00)
        (vn(3, 8, 59, 59), C.ON_TRACK),  # 8 h and one second left
        (vn(3, 9, 0), C.AT_RISK),  # exactly 8 office hours left
        (DUE, C.AT_RISK),  # nothing left, not yet past
        (DUE + SECOND, C.OVERDUE),
    ],
)
def test_open_class_boundaries(classifier: Classifier, now: datetime, expected: C) -> None:
    """On track, at risk within 8 office hours (inclusive), overdue once past the due time."""
    facts = DeadlineFacts(received_at=RECEIVED, due_at=DUE)
    assert classifier.classify(facts, S.PROCESSING, now).state is expected


def test_at_risk_window_is_a_setting() -> None:
    """With a 16-hour window, Wednesday 17:00 (9 h left) is already at risk."""
    wide = Classifier(WorkingCalendar.load(), at_risk_hours=16)
    facts = DeadlineFacts(received_at=RECEIVED, due_at=DUE)
    assert wide.classify(facts, S.PROCESSING, vn(2, 17)).state is C.AT_RISK


def test_resolved_class_and_working_days_used(classifier: Classifier) -> None:
    """A dossier resolved Monday 7 Dec after a 3-day pause: early against its moved due date
    (stored outcome), 7 working days elapsed (27, 30 Nov, 1-4, 7 Dec) of which 4 used."""
    facts = DeadlineFacts(
        received_at=RECEIVED,
        due_at=vn(8, 17),
        resolved_at=vn(7, 10),
        paused_working_days=3,
        outcome=Outcome.EARLY,
    )
    found = classifier.classify(facts, S.PROCESSED, vn(10, 9))
    assert found.state is C.EARLY
    assert (found.working_days_used, found.working_days_paused) == (4, 3)


def test_paused_dossier_is_not_overdue_while_the_applicant_holds_it(
    classifier: Classifier,
) -> None:
    """Paused Monday 30 Nov 10:00 and still paused Friday 4 Dec: the 4 working days (1-4 Dec)
    move the due date to Wednesday 9 Dec, so it is on track, not overdue."""
    facts = DeadlineFacts(received_at=RECEIVED, due_at=DUE, paused_since=vn(30, 10, month=11))
    found = classifier.classify(facts, S.MORE_DOCUMENTS_REQUESTED, vn(4, 10))
    assert found.state is C.ON_TRACK
    assert found.paused
    assert found.working_days_paused == 4
    assert found.due_at == vn(9, 17)


def test_paused_time_counted_when_configured() -> None:
    """When paused time counts against the agency the same dossier is overdue."""
    counting = Classifier(WorkingCalendar.load(), counts_paused_time=True)
    facts = DeadlineFacts(received_at=RECEIVED, due_at=DUE, paused_since=vn(30, 10, month=11))
    assert counting.classify(facts, S.MORE_DOCUMENTS_REQUESTED, vn(4, 10)).state is C.OVERDUE


def test_closed_and_unknown(classifier: Classifier) -> None:
    """Refused/withdrawn/stopped dossiers are closed; without a due date, no_due_date."""
    facts = DeadlineFacts(received_at=RECEIVED, due_at=DUE)
    assert classifier.classify(facts, S.WITHDRAWN, vn(10, 9)).state is C.CLOSED
    bare = DeadlineFacts(received_at=RECEIVED)
    assert classifier.classify(bare, S.PROCESSING, vn(10, 9)).state is C.NO_DUE_DATE
