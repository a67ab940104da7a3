"""Batch delivery to a fake portal: batching, order, isUpdating, narrowing, backoff, budget."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from datetime import UTC
from itertools import count

from schemas.models import Dossier
from schemas.status import DossierStatus
from store.outbox import Claim, DeliveryKind, OutboxItem
from sync.backoff import RetryPolicy
from sync.delivery import BatchDelivery, DeliverySettings, cut_runs
from sync.testing import FakePortal
from tests.support.stores import LIFECYCLE, FakeClock, make_dossier, make_event

S = DossierStatus
_ids = count(1)


def _item(kind: DeliveryKind, payload: dict[str, object], attempts: int = 0) -> OutboxItem:
    item_id = next(_ids)
    return OutboxItem(
        id=item_id,
        dossier_code=str(payload.get("code") or payload.get("dossier_code")),
        kind=kind,
        payload=payload,
        idempotency_key=f"k{item_id}",
        attempts=attempts,
        created_at=dt.datetime.now(dt.UTC),
        first_attempt_at=None,
    )


def _claim(
    serial: int,
    *,
    events: int = 0,
    sync: bool = True,
    on_portal: bool = False,
    clock: FakeClock,
    attempts: int = 0,
) -> Claim:
    items = []
    if sync:
        items.append(
            _item(DeliveryKind.SYNC_DOSSIER, make_dossier(serial).model_dump(mode="json"), attempts)
        )
    for sequence, status in enumerate(LIFECYCLE[:events], start=1):
        event = make_event(serial, sequence, status)
        items.append(_item(DeliveryKind.PUSH_PROGRESS, event.model_dump(mode="json"), attempts))
    code = make_dossier(serial).code
    return Claim(code, "token", clock() + dt.timedelta(seconds=60), on_portal, tuple(items))


def _delivery(portal: FakePortal, clock: FakeClock, **settings: int) -> BatchDelivery:
    return BatchDelivery(
        portal,
        retry=RetryPolicy(base=1, cap=30, max_attempts=3),
        settings=DeliverySettings(**settings),  # type: ignore[arg-type]
        clock=clock,
        rng=random.Random(3),
    )


async def test_many_dossiers_go_in_few_portal_calls_and_in_order() -> None:
    """New dossiers with their steps: one lookup each, one create call, one progress call."""
    clock = FakeClock()
    portal = FakePortal()
    claims = [_claim(n, events=3, clock=clock) for n in range(1, 6)]
    outcomes = await _delivery(portal, clock).deliver(claims)
    assert all(o.failed is None and len(o.delivered) == 4 and o.on_portal for o in outcomes)
    assert portal.calls.count("lookup") == 5
    assert portal.calls.count("sync_create") == 1
    assert portal.calls.count("push_progress") == 1
    assert all(portal.sequences(c.dossier_code) == [1, 2, 3] for c in claims)
    assert portal.out_of_order == []


async def test_portal_batch_limit_never_splits_a_dossier_run() -> None:
    """With data[] limited to 4 records, runs of 3 steps go 1 dossier per call, whole."""
    clock = FakeClock()
    portal = FakePortal()
    claims = [_claim(n, events=3, clock=clock) for n in range(1, 4)]
    outcomes = await _delivery(portal, clock, portal_batch=4).deliver(claims)
    assert all(o.failed is None for o in outcomes)
    assert portal.calls.count("push_progress") == 3
    assert cut_runs(claims[0].items, 2)[1:] == [list(claims[0].items[1:3]), [claims[0].items[3]]]


async def test_known_dossier_is_updated_without_a_lookup() -> None:
    """A dossier the portal acknowledged before is sent with isUpdating=true straight away."""
    clock = FakeClock()
    portal = FakePortal()
    portal.dossiers[make_dossier(1).code] = make_dossier(1)
    outcomes = await _delivery(portal, clock).deliver([_claim(1, on_portal=True, clock=clock)])
    assert outcomes[0].failed is None
    assert portal.calls == ["sync_update"]


async def test_lookup_turns_a_lost_create_into_an_update() -> None:
    """A create applied with its answer lost is retried as an update, never created twice."""
    clock = FakeClock()
    portal = FakePortal()
    portal.faults.drop_after_commit_next = 1
    delivery = _delivery(portal, clock)
    first = await delivery.deliver([_claim(1, events=1, clock=clock)])
    assert first[0].failed is not None
    assert first[0].retry_at is not None
    assert first[0].delivered == ()
    second = await delivery.deliver([_claim(1, events=1, clock=clock)])
    assert second[0].failed is None
    assert len(second[0].delivered) == 2
    assert portal.calls == ["lookup", "sync_create", "lookup", "sync_update", "push_progress"]
    assert portal.creates[make_dossier(1).code] == 1


async def test_refused_create_answered_exists_is_looked_up_and_updated() -> None:
    """A create refused with 'already exists' (a lost answer retried) becomes an update."""
    clock = FakeClock()
    portal = FakePortal()
    delivery = _delivery(portal, clock)
    claim = _claim(1, clock=clock)

    async def stale_lookup(code: str, ctx: object) -> Dossier | None:
        portal.calls.append("lookup")
        return None  # as if the portal had not caught up yet

    portal.dossiers[claim.dossier_code] = make_dossier(1)
    real_lookup = portal.lookup_dossier
    portal.lookup_dossier = stale_lookup  # type: ignore[method-assign]
    outcomes = await delivery.deliver([claim])
    assert outcomes[0].failed is not None
    assert outcomes[0].retry_at is None
    portal.lookup_dossier = real_lookup  # type: ignore[method-assign]
    outcomes = await delivery.deliver([claim])
    assert outcomes[0].failed is None


async def test_one_refused_dossier_does_not_take_the_batch_down() -> None:
    """A record refused in a batch fails its dossier only; the others are delivered."""
    clock = FakeClock()
    portal = FakePortal()
    portal.faults.refuse.add(make_dossier(2).code)
    claims = [_claim(n, events=2, clock=clock) for n in (1, 2, 3)]
    outcomes = {o.claim.dossier_code: o for o in await _delivery(portal, clock).deliver(claims)}
    bad = outcomes.pop(make_dossier(2).code)
    assert bad.failed == claims[1].items[0].id
    assert bad.retry_at is None
    assert bad.error is not None
    assert bad.error.startswith("InvalidRequest [INVALID_INPUT]")
    assert all(o.failed is None and len(o.delivered) == 3 for o in outcomes.values())
    assert portal.calls.count("sync_create") == 1


async def test_refused_step_stops_its_dossier_there() -> None:
    """Steps before a refused step are delivered; the refused one dies (not retried as
    transient); later ones wait."""
    clock = FakeClock()
    portal = FakePortal()
    portal.dossiers[make_dossier(1).code] = make_dossier(1)
    events = [make_event(1, n, status) for n, status in [(1, S.ACCEPTED), (2, S.PROCESSING)]]
    poison = events[1].model_copy(update={"occurred_at": dt.datetime(9999, 12, 31, 23, tzinfo=UTC)})
    events[1] = poison
    events.append(make_event(1, 3, S.PROCESSING))
    items = tuple(
        _item(DeliveryKind.PUSH_PROGRESS, event.model_dump(mode="json")) for event in events
    )
    claim = Claim(make_dossier(1).code, "t", clock() + dt.timedelta(seconds=60), True, items)
    (outcome,) = await _delivery(portal, clock).deliver([claim])
    assert outcome.delivered == (items[0].id,)
    assert outcome.failed == items[1].id
    assert outcome.retry_at is None
    assert outcome.error is not None
    assert outcome.error.startswith("InvalidRequest")
    assert portal.sequences(make_dossier(1).code) == [1]


async def test_call_refused_whole_is_sent_apart_then_step_by_step() -> None:
    """A whole call refused permanently is resent per dossier, and a run step by step."""
    clock = FakeClock()
    portal = FakePortal()
    claims = [_claim(n, events=3, sync=False, on_portal=True, clock=clock) for n in (1, 2)]
    for n in (1, 2):
        portal.dossiers[make_dossier(n).code] = make_dossier(n)
    portal.faults.reject_next = 2  # the batch, then dossier 1 alone
    outcomes = await _delivery(portal, clock).deliver(claims)
    assert all(o.failed is None and len(o.delivered) == 3 for o in outcomes)
    # batch (refused), dossier 1 alone (refused) and dossier 2 alone, then 1's three steps
    assert portal.calls == ["push_progress"] * 6
    assert portal.sequences(make_dossier(1).code) == [1, 2, 3]


async def test_call_refused_whole_every_time_makes_a_dead_letter() -> None:
    """A dossier whose calls are always refused whole ends as a dead letter naming the cause."""
    clock = FakeClock()
    portal = FakePortal()
    portal.dossiers[make_dossier(1).code] = make_dossier(1)
    portal.faults.reject_next = 10
    claim = _claim(1, events=1, sync=False, on_portal=True, clock=clock)
    (outcome,) = await _delivery(portal, clock).deliver([claim])
    assert outcome.retry_at is None
    assert outcome.error is not None
    assert outcome.error.startswith("InvalidRequest [INVALID_INPUT]")


async def test_transient_failure_is_retried_later_with_backoff() -> None:
    """An unavailable portal leaves the head pending, with a retry time in the future."""
    clock = FakeClock()
    portal = FakePortal()
    portal.faults.fail_next = 1
    (outcome,) = await _delivery(portal, clock).deliver([_claim(1, on_portal=True, clock=clock)])
    assert outcome.failed is not None
    assert outcome.retry_at is not None
    assert clock() < outcome.retry_at <= clock() + dt.timedelta(seconds=1)
    assert outcome.error is not None
    assert "UpstreamUnavailable" in outcome.error


async def test_exhausted_budget_makes_a_dead_letter() -> None:
    """A delivery that failed max_attempts times becomes a dead letter with its last error."""
    clock = FakeClock()
    portal = FakePortal()
    portal.faults.down = True
    claim = _claim(1, on_portal=True, clock=clock, attempts=2)
    (outcome,) = await _delivery(portal, clock).deliver([claim])
    assert outcome.failed is not None
    assert outcome.retry_at is None
    assert outcome.error is not None
    assert "outage" in outcome.error


async def test_nothing_is_sent_when_the_lease_is_about_to_end() -> None:
    """A claim whose lease ends within the margin is left alone (another worker may take it)."""
    clock = FakeClock()
    portal = FakePortal()
    claim = _claim(1, clock=clock)
    clock.advance(58)
    (outcome,) = await _delivery(portal, clock).deliver([claim])
    assert outcome.delivered == ()
    assert outcome.failed is None
    assert portal.calls == []


async def test_replay_after_a_crash_does_not_pull_the_status_back() -> None:
    """Items applied by a worker that died before settling are claimed again in doubt: the read-
    back finds the steps held (not sent again), the old snapshot keeps the portal's newer
    status, nothing dies."""
    clock = FakeClock()
    portal = FakePortal()
    claim = _claim(1, events=2, clock=clock)
    first = await _delivery(portal, clock).deliver([claim])  # applied; pretend settle was lost
    assert first[0].failed is None
    taken_over = dataclasses.replace(claim, in_doubt=True, dossier=claim.items[0].payload)
    delivery = _delivery(portal, clock)
    replay = await delivery.deliver([taken_over])
    assert replay[0].failed is None
    assert len(replay[0].delivered) == 3
    code = make_dossier(1).code
    assert portal.dossiers[code].status is LIFECYCLE[1]
    assert portal.sequences(code) == [1, 2]
    assert portal.creates[code] == 1
    assert (delivery.figures.readbacks, delivery.figures.held, delivery.figures.resent) == (1, 2, 0)


async def test_known_dossier_snapshot_behind_the_portal_is_resent_with_its_status() -> None:
    """An update refused as an illegal move (the portal is further on) is looked up and resent
    with the portal's status."""
    clock = FakeClock()
    portal = FakePortal()
    portal.dossiers[make_dossier(1).code] = make_dossier(1, status=S.PROCESSING)
    claim = _claim(1, on_portal=True, clock=clock)
    (outcome,) = await _delivery(portal, clock).deliver([claim])
    assert outcome.failed is None
    assert portal.calls == ["sync_update", "lookup", "sync_update"]
    assert portal.dossiers[make_dossier(1).code].status is S.PROCESSING


async def test_replay_cut_short_by_the_lease_keeps_the_dossier_in_doubt() -> None:
    """A dossier the portal lost is read back but the lease ends before its steps are replayed:
    the outcome keeps it in doubt and due at once, so the next claim replays (none is lost)."""
    clock = FakeClock()
    portal = FakePortal()
    history = tuple(
        make_event(1, n, status).model_dump(mode="json")
        for n, status in enumerate(LIFECYCLE[:2], start=1)
    )
    item = _item(DeliveryKind.PUSH_PROGRESS, make_event(1, 3, LIFECYCLE[2]).model_dump(mode="json"))
    claim = Claim(
        make_dossier(1).code,
        "t",
        clock() + dt.timedelta(seconds=1),  # inside the lease margin: nothing is sent
        True,
        (item,),
        dossier=make_dossier(1).model_dump(mode="json"),
        in_doubt=True,
        history=history,
        registered_status=1,
    )
    (outcome,) = await _delivery(portal, clock).deliver([claim])
    assert portal.calls == ["lookup"]
    assert (outcome.failed, outcome.in_doubt, outcome.retry_at) == (item.id, True, clock())
