"""The worker's decisions against the in-memory ``FakeOutbox`` and ``FakePortal``, no database:
deliver, wait idle, retry with backoff, give up (dead letter), hold the dossier behind a failure,
read back a claim in doubt, and leave a claim taken over alone."""

from __future__ import annotations

import datetime as dt
import logging
import random

import pytest

from sync.backoff import RetryPolicy
from sync.fake_outbox import FakeOutbox
from sync.outbox import DeliveryKind, ItemState, Outcome
from sync.testing import FakePortal
from sync.worker import CycleResult, SyncWorker, WorkerSettings
from tests.support.stores import LIFECYCLE, FakeClock, make_dossier, make_event

POLICY = RetryPolicy(base=1.0, cap=10.0, max_attempts=3)


def _worker(outbox: FakeOutbox, portal: FakePortal, clock: FakeClock, **options: int) -> SyncWorker:
    settings = WorkerSettings(retry=POLICY, **options)  # type: ignore[arg-type]
    return SyncWorker(
        outbox, portal, settings=settings, worker_id="w1", clock=clock, rng=random.Random(7)
    )


def _fill(outbox: FakeOutbox, serials: range, events: int) -> dict[int, list[int]]:
    """Each dossier's snapshot and its first ``events`` steps; the item ids by serial."""
    return {
        serial: outbox.add(
            make_dossier(serial),
            [make_event(serial, n, s) for n, s in enumerate(LIFECYCLE[:events], start=1)],
        )
        for serial in serials
    }


async def test_pending_items_are_delivered_in_order_and_settled() -> None:
    """One cycle delivers every dossier's items in order, marks them delivered, records that the
    portal holds the dossiers and drops their heads."""
    clock, portal = FakeClock(), FakePortal()
    outbox = FakeOutbox(clock=clock)
    ids = _fill(outbox, range(1, 4), 3)
    result = await _worker(outbox, portal, clock).run_once()
    assert result == CycleResult(claimed=3, delivered=12, retrying=0, dead=0)
    assert outbox.with_state(ItemState.DELIVERED) == sorted(i for v in ids.values() for i in v)
    assert outbox.heads == {}
    assert outbox.on_portal == {make_dossier(n).code for n in range(1, 4)}
    assert all(portal.sequences(make_dossier(n).code) == [1, 2, 3] for n in range(1, 4))


async def test_an_empty_outbox_is_an_idle_cycle_that_calls_no_one() -> None:
    """Nothing claimable: the cycle reports nothing, the portal is not called, nothing settled."""
    clock, portal = FakeClock(), FakePortal()
    outbox = FakeOutbox(clock=clock)
    assert await _worker(outbox, portal, clock).run_once() == CycleResult()
    assert portal.calls == []
    assert outbox.settles == 0


async def test_a_portal_outage_is_retried_after_a_backoff_then_delivered() -> None:
    """A transient failure leaves the item pending with one attempt, its head out of reach until
    the backoff ends; after it the same item is delivered."""
    clock, portal = FakeClock(), FakePortal()
    outbox = FakeOutbox(clock=clock)
    (first,) = _fill(outbox, range(1, 2), 0)[1]
    worker = _worker(outbox, portal, clock)
    portal.faults.down = True
    assert await worker.run_once() == CycleResult(claimed=1, retrying=1)
    stored = outbox.items[first]
    assert (stored.state, stored.item.attempts) == (ItemState.PENDING, 1)
    retry_at = outbox.heads[make_dossier(1).code].available_at
    assert retry_at is not None
    assert retry_at > clock()
    portal.faults.down = False
    assert await worker.run_once() == CycleResult()  # backing off: not claimable yet
    clock.now = retry_at
    assert await worker.run_once() == CycleResult(claimed=1, delivered=1)
    assert outbox.state(first) is ItemState.DELIVERED


async def test_a_spent_budget_gives_the_delivery_up_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After ``max_attempts`` failures the item is a dead letter with its last error, its head is
    held (not claimable) and one WARNING names the dossier."""
    clock, portal = FakeClock(), FakePortal()
    outbox = FakeOutbox(clock=clock)
    (first,) = _fill(outbox, range(1, 2), 0)[1]
    worker = _worker(outbox, portal, clock)
    portal.faults.down = True
    results = []
    with caplog.at_level(logging.WARNING, logger="lienthong.sync"):
        for _ in range(POLICY.max_attempts):
            results.append(await worker.run_once())
            clock.advance(POLICY.cap)
    assert [r.dead for r in results] == [0] * (POLICY.max_attempts - 1) + [1]
    assert outbox.state(first) is ItemState.DEAD
    assert outbox.items[first].last_error
    assert outbox.heads[make_dossier(1).code].available_at is None
    dead = [r for r in caplog.records if r.getMessage().startswith("dead letter")]
    assert [getattr(r, "dossier_code", None) for r in dead] == [make_dossier(1).code]
    portal.faults.down = False
    assert await worker.run_once() == CycleResult()  # held until an operator retries


async def test_a_refused_dossier_is_a_dead_letter_and_holds_its_later_steps() -> None:
    """A permanent refusal makes a dead letter at once; the dossier's later items stay pending
    behind it while the other dossiers go ahead; an operator's retry delivers them all in order."""
    clock, portal = FakeClock(), FakePortal()
    outbox = FakeOutbox(clock=clock)
    ids = _fill(outbox, range(1, 3), 2)
    refused = make_dossier(1).code
    portal.faults.refuse.add(refused)
    worker = _worker(outbox, portal, clock)
    assert await worker.run_once() == CycleResult(claimed=2, delivered=3, dead=1)
    assert [outbox.state(i) for i in ids[1]] == [ItemState.DEAD] + [ItemState.PENDING] * 2
    assert all(outbox.state(i) is ItemState.DELIVERED for i in ids[2])
    portal.faults.refuse.clear()
    outbox.retry(ids[1][0])
    await worker.drain()
    assert all(outbox.state(i) is ItemState.DELIVERED for i in ids[1])
    assert portal.sequences(refused) == [1, 2]


async def test_a_claim_bounded_by_items_per_dossier_is_drained_over_cycles() -> None:
    """``items_per_dossier`` bounds a claim; ``drain`` keeps claiming until nothing is left."""
    clock, portal = FakeClock(), FakePortal()
    outbox = FakeOutbox(clock=clock)
    _fill(outbox, range(1, 2), 5)
    worker = _worker(outbox, portal, clock, items_per_dossier=2)
    total = await worker.drain()
    assert total == CycleResult(claimed=3, delivered=6)
    assert portal.sequences(make_dossier(1).code) == [1, 2, 3, 4, 5]
    assert outbox.with_state(ItemState.PENDING) == []


async def test_a_claim_never_settled_is_read_back_and_not_sent_twice() -> None:
    """A worker that delivered and died before settling leaves its head leased; after the lease
    the next claim is in doubt, reads the portal back and acknowledges what it holds unsent."""
    clock, portal = FakeClock(), FakePortal()
    outbox = FakeOutbox(clock=clock)
    _fill(outbox, range(1, 3), 3)
    worker = _worker(outbox, portal, clock)
    claims = await outbox.claim("dead-worker", items_per_dossier=50)
    await worker._delivery.deliver(claims)  # the portal applied it all; no settle
    clock.advance(120)
    calls_before = len(portal.calls)
    result = await worker.run_once()
    assert result == CycleResult(claimed=2, delivered=8)
    assert portal.calls[calls_before:].count("push_progress") == 0
    assert portal.applied_twice() == []
    assert outbox.with_state(ItemState.PENDING) == []


async def test_a_lost_answer_leaves_the_dossier_in_doubt_then_read_back() -> None:
    """A progress call applied whose answer was lost is retried in doubt: the read-back finds
    the steps held and they are acknowledged, none applied twice."""
    clock, portal = FakeClock(), FakePortal()
    outbox = FakeOutbox(clock=clock)
    _fill(outbox, range(1, 2), 0)
    worker = _worker(outbox, portal, clock)
    await worker.run_once()
    code = make_dossier(1).code
    for sequence, status in enumerate(LIFECYCLE[:2], start=1):  # steps of a known dossier
        event = make_event(1, sequence, status)
        payload = event.model_dump(mode="json")
        outbox.enqueue(code, DeliveryKind.PUSH_PROGRESS, payload, event.idempotency_key)
    portal.faults.drop_after_commit_next = 1
    assert await worker.run_once() == CycleResult(claimed=1, retrying=1)
    assert outbox.heads[code].in_doubt
    clock.advance(POLICY.cap)
    assert await worker.run_once() == CycleResult(claimed=1, delivered=2)
    assert portal.sequences(code) == [1, 2]
    assert portal.applied_twice() == []


async def test_a_settle_after_the_claim_was_taken_over_leaves_the_head_alone() -> None:
    """A slow worker's settle, after its lease passed to another claim, records its deliveries
    but does not move the head the other claim now holds."""
    clock = FakeClock()
    outbox = FakeOutbox(clock=clock)
    ids = _fill(outbox, range(1, 2), 1)[1]
    (slow,) = await outbox.claim("slow", lease=dt.timedelta(seconds=5))
    clock.advance(10)
    (taken,) = await outbox.claim("other")
    assert taken.in_doubt
    await outbox.settle([Outcome(slow, delivered=(ids[0],))])
    head = outbox.heads[slow.dossier_code]
    assert (head.token, head.head_id) == (taken.token, ids[0])
    assert outbox.state(ids[0]) is ItemState.DELIVERED
