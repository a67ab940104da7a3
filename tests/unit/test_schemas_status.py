"""The dossier lifecycle: every legal status change allowed, every other refused."""

from __future__ import annotations

import itertools

import pytest

from schemas.errors import IllegalTransition, SchemaError
from schemas.status import (
    INITIAL_STATUSES,
    TRANSITIONS,
    DossierStatus,
    can_transition,
    check_transition,
    is_terminal,
)

S = DossierStatus

#: the table written out independently of the module, from the portal's lifecycle
EXPECTED: dict[int, set[int]] = {
    1: {2, 3, 7},
    2: {4, 5, 6, 7, 8},
    3: set(),
    4: {5, 6, 7, 8, 9},
    5: {4, 7, 8},
    6: {4, 7, 8},
    7: set(),
    8: set(),
    9: {10},
    10: set(),
}
LEGAL = [(S(a), S(b)) for a, targets in EXPECTED.items() for b in sorted(targets)]
ILLEGAL = [(a, b) for a, b in itertools.product(S, S) if a != b and int(b) not in EXPECTED[int(a)]]


def test_codes_are_the_portals_one_to_ten() -> None:
    """Statuses are numbered 1–10 in the portal's order, each with a Vietnamese name."""
    assert [int(s) for s in S] == list(range(1, 11))
    assert S(5).label == "more documents requested"
    assert S.RESULT_DELIVERED.vietnamese == "Đã trả kết quả"
    assert all(s.vietnamese for s in S)


def test_table_is_exactly_the_documented_one() -> None:
    """TRANSITIONS holds exactly the documented moves for every status."""
    assert {int(k): {int(v) for v in vs} for k, vs in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize(("old", "new"), LEGAL)
def test_every_legal_change_is_allowed(old: DossierStatus, new: DossierStatus) -> None:
    """check_transition returns for each pair in the table."""
    check_transition(old, new)
    assert can_transition(old, new)


@pytest.mark.parametrize(("old", "new"), ILLEGAL)
def test_every_other_change_is_refused_naming_both(old: DossierStatus, new: DossierStatus) -> None:
    """Any pair outside the table raises IllegalTransition naming both statuses."""
    assert not can_transition(old, new)
    with pytest.raises(IllegalTransition) as caught:
        check_transition(old, new)
    message = str(caught.value)
    assert f"{int(old)} ({old.label})" in message
    assert f"{int(new)} ({new.label})" in message
    assert (caught.value.old, caught.value.new) == (old, new)
    assert isinstance(caught.value, SchemaError)
    assert isinstance(caught.value, ValueError)


def test_terminal_statuses() -> None:
    """Refused, withdrawn, stopped and result delivered end the lifecycle."""
    assert {s for s in S if is_terminal(s)} == {
        S.REFUSED,
        S.WITHDRAWN,
        S.STOPPED,
        S.RESULT_DELIVERED,
    }


@pytest.mark.parametrize("status", list(S))
def test_staying_put_is_a_progress_step_unless_terminal(status: DossierStatus) -> None:
    """A repeat of a non-terminal status is allowed; a terminal status admits nothing more."""
    if is_terminal(status):
        with pytest.raises(IllegalTransition):
            check_transition(status, status)
    else:
        check_transition(status, status)


def test_plain_integers_are_accepted() -> None:
    """Codes read from the wire as integers are checked like the enum."""
    check_transition(4, 9)  # type: ignore[arg-type]
    with pytest.raises(IllegalTransition):
        check_transition(9, 4)  # type: ignore[arg-type]


def test_every_status_is_reachable_from_an_initial_status() -> None:
    """No status in the table is dead: each is reachable from submitted or accepted."""
    seen = set(INITIAL_STATUSES)
    frontier = list(INITIAL_STATUSES)
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(S)
