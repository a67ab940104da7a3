"""The dossier rules (``schemas.dossier_rules``) alone: each accepts and refuses, no store."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.dossier_rules import (
    SequenceCheck,
    TimeRefusal,
    apply_event,
    check_sequence,
    closes,
    may_register,
    next_sequence,
    sequence_used,
    status_change_event,
    time_refusal,
)
from schemas.errors import IllegalTransition
from schemas.status import DossierStatus
from tests.support.stores import RECEIVED, make_dossier, make_event

S = DossierStatus
HOUR = dt.timedelta(hours=1)


@pytest.mark.parametrize("status", list(S))
def test_a_dossier_registers_only_submitted_or_accepted(status: DossierStatus) -> None:
    """Registration accepts statuses 1 and 2 and refuses every other one."""
    assert may_register(status) is (status in {S.SUBMITTED, S.ACCEPTED})


def test_the_next_sequence_follows_the_last_and_the_first_is_one() -> None:
    """A dossier with no event expects 1; one with 4 events expects 5."""
    assert next_sequence(0) == 1
    assert next_sequence(4) == 5


def test_a_sequence_is_used_up_to_the_last_one() -> None:
    """Sequences up to the last one are taken; the next one is free."""
    assert sequence_used(1, 3)
    assert sequence_used(3, 3)
    assert not sequence_used(4, 3)
    assert not sequence_used(1, 0)


def test_the_next_sequence_is_appended() -> None:
    """An event carrying the next sequence is appended, whatever an earlier event was."""
    assert check_sequence(make_event(1, 3, S.PROCESSING), 2, None) is SequenceCheck.NEXT


def test_a_used_sequence_with_the_same_event_is_a_replay() -> None:
    """The event stored under a used sequence, sent again, is answered as a replay."""
    stored = make_event(1, 2, S.PROCESSING)
    assert check_sequence(make_event(1, 2, S.PROCESSING), 3, stored) is SequenceCheck.REPLAY


def test_a_used_sequence_with_another_event_is_a_conflict() -> None:
    """A used sequence carrying a different event (or one not known) is refused."""
    stored = make_event(1, 2, S.PROCESSING)
    other = make_event(1, 2, S.PROCESSING, note="another step")
    assert check_sequence(other, 3, stored) is SequenceCheck.CONFLICT
    assert check_sequence(other, 3, None) is SequenceCheck.CONFLICT


def test_a_sequence_beyond_the_next_is_a_conflict_even_with_an_equal_earlier_event() -> None:
    """Skipping a sequence is refused; an ``earlier`` event cannot make it a replay."""
    event = make_event(1, 5, S.PROCESSING)
    assert check_sequence(event, 3, event) is SequenceCheck.CONFLICT


def test_an_event_at_or_after_receipt_and_the_previous_event_is_on_time() -> None:
    """No refusal at the receipt itself, nor at the previous event's own time."""
    assert time_refusal(RECEIVED, RECEIVED, None) is None
    assert time_refusal(RECEIVED + HOUR, RECEIVED, RECEIVED + HOUR) is None


def test_an_event_before_receipt_is_refused() -> None:
    """An event before the dossier's receipt is refused as such (checked first)."""
    assert time_refusal(RECEIVED - HOUR, RECEIVED, None) is TimeRefusal.BEFORE_RECEIPT
    assert time_refusal(RECEIVED - HOUR, RECEIVED, RECEIVED + HOUR) is TimeRefusal.BEFORE_RECEIPT


def test_an_event_before_the_previous_event_is_refused() -> None:
    """An event after receipt but before the dossier's previous event is out of order."""
    refusal = time_refusal(RECEIVED + HOUR, RECEIVED, RECEIVED + 2 * HOUR)
    assert refusal is TimeRefusal.OUT_OF_ORDER
    assert refusal.value == "event_out_of_order"


@pytest.mark.parametrize("status", list(S))
def test_only_a_terminal_status_closes_the_dossier(status: DossierStatus) -> None:
    """Refused, withdrawn, stopped and result delivered close a dossier; nothing else does."""
    terminal = {S.REFUSED, S.WITHDRAWN, S.STOPPED, S.RESULT_DELIVERED}
    assert closes(status) is (status in terminal)


def test_an_update_that_keeps_the_status_makes_no_event() -> None:
    """A registered dossier updated in the same status stands for no event."""
    current = make_dossier(1, status=S.ACCEPTED)
    updated = make_dossier(1, status=S.ACCEPTED, title="Cấp phiếu lý lịch tư pháp số 2")
    assert status_change_event(current, updated, 3) is None


def test_an_update_that_changes_the_status_is_the_next_event_at_its_time() -> None:
    """A legal status change becomes an event with the next sequence, at the update's time."""
    current = make_dossier(1, status=S.SUBMITTED)
    updated = make_dossier(1, status=S.ACCEPTED, updated_at=RECEIVED + HOUR)
    event = status_change_event(current, updated, 2)
    assert event is not None
    assert (event.dossier_code, event.sequence, event.status, event.occurred_at) == (
        current.code,
        3,
        S.ACCEPTED,
        RECEIVED + HOUR,
    )


def test_an_update_with_an_illegal_status_change_is_refused() -> None:
    """A status change the lifecycle forbids raises ``IllegalTransition`` naming both ends."""
    current = make_dossier(1, status=S.SUBMITTED)
    updated = make_dossier(1, status=S.RESULT_DELIVERED)
    with pytest.raises(IllegalTransition) as caught:
        status_change_event(current, updated, 0)
    assert (caught.value.old, caught.value.new) == (S.SUBMITTED, S.RESULT_DELIVERED)


def test_an_event_moves_the_dossier_and_its_time_only_forward() -> None:
    """An appended event sets the status; the update time never goes back."""
    current = make_dossier(1, status=S.ACCEPTED, updated_at=RECEIVED + 5 * HOUR)
    later = make_event(1, 6, S.PROCESSING)  # at RECEIVED + 6 h
    earlier = make_event(1, 2, S.PROCESSING)  # at RECEIVED + 2 h
    assert apply_event(current, later).status is S.PROCESSING
    assert apply_event(current, later).updated_at == RECEIVED + 6 * HOUR
    assert apply_event(current, earlier).updated_at == RECEIVED + 5 * HOUR
    assert current.status is S.ACCEPTED  # the dossier given is left as it was


def test_an_event_the_lifecycle_forbids_is_refused() -> None:
    """An event from a terminal status, or across the table, raises ``IllegalTransition``."""
    with pytest.raises(IllegalTransition):
        apply_event(make_dossier(1, status=S.REFUSED), make_event(1, 1, S.REFUSED))
    with pytest.raises(IllegalTransition):
        apply_event(make_dossier(1, status=S.SUBMITTED), make_event(1, 1, S.PROCESSED))
