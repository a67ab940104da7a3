"""The worker over the real store and a fake portal: outages, bursts, lost answers, many workers."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.status import DossierStatus
from store.db import create_sessionmaker
from store.dossiers import SyncStatus, record_dossier, record_event, sync_state
from store.outbox import SqlOutbox
from sync.backoff import RetryPolicy
from sync.testing import FakePortal
from sync.worker import SyncWorker, WorkerService, WorkerSettings
from tests.support.stores import (
    LIFECYCLE,
    FakeClock,
    make_dossier,
    make_event,
)

POLICY = RetryPolicy(base=1.0, cap=10.0, max_attempts=1000)


def _worker(
    engine: AsyncEngine, portal: FakePortal, clock: FakeClock, **settings: object
) -> SyncWorker:
    options: dict[str, object] = {"retry": POLICY, "dossiers_per_claim": 7, "concurrency": 2}
    options.update(settings)
    return SyncWorker(
        SqlOutbox(engine, clock=clock),
        portal,
        settings=WorkerSettings(**options),  # type: ignore[arg-type]
        clock=clock,
        rng=random.Random(5),
    )


async def _record(engine: AsyncEngine, serials: range, events: int) -> None:
    sessions = create_sessionmaker(engine)
    for serial in serials:
        async with sessions() as session, session.begin():
            await record_dossier(session, make_dossier(serial))
    await _record_events(engine, serials, events)


async def _record_events(engine: AsyncEngine, serials: range, events: int) -> None:
    sessions = create_sessionmaker(engine)
    for sequence, status in enumerate(LIFECYCLE[:events], start=1):
        for serial in serials:
            async with sessions() as session, session.begin():
                await record_event(session, make_event(serial, sequence, status))


async def _until_idle(worker: SyncWorker, outbox: SqlOutbox, clock: FakeClock) -> None:
    for _ in range(200):
        await worker.drain()
        stats = await outbox.stats()
        if stats.pending == 0:
            return
        clock.advance(POLICY.cap)
    raise AssertionError("the outbox did not drain")


def _assert_exactly_once_in_order(portal: FakePortal, serials: range, events: int) -> None:
    for serial in serials:
        code = make_dossier(serial).code
        assert portal.creates[code] == 1
        assert portal.sequences(code) == list(range(1, events + 1))
        assert portal.dossiers[code].status is LIFECYCLE[events - 1]
    assert portal.applied_twice() == []
    assert portal.out_of_order == []


async def test_outage_then_recovery_delivers_everything_in_order(engine: AsyncEngine) -> None:
    """While the portal is down nothing is lost or marked delivered; after it, all arrive once."""
    portal = FakePortal()
    portal.faults.down = True
    clock = FakeClock()
    outbox = SqlOutbox(engine, clock=clock)
    worker = _worker(engine, portal, clock)
    serials = range(1, 16)
    await _record(engine, serials, 4)
    for _ in range(5):  # hours of outage, compressed
        await worker.drain()
        clock.advance(POLICY.cap)
    down = await outbox.stats()
    assert (down.delivered, down.dead, down.pending) == (0, 0, 15 * 5)
    portal.faults.down = False
    await _until_idle(worker, outbox, clock)
    _assert_exactly_once_in_order(portal, serials, 4)
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        state = await sync_state(session, make_dossier(1).code)
    assert state is not None
    assert state.status is SyncStatus.DELIVERED


async def test_error_bursts_and_lost_answers_still_apply_once(engine: AsyncEngine) -> None:
    """Random bursts of errors and answers lost after commit: every step applied exactly once."""
    portal = FakePortal()
    clock = FakeClock()
    outbox = SqlOutbox(engine, clock=clock)
    worker = _worker(engine, portal, clock, dossiers_per_claim=4)
    serials = range(1, 13)
    await _record(engine, serials, 5)
    rng = random.Random(11)
    for _ in range(300):
        portal.faults.fail_next = rng.choice([0, 0, 1, 3])
        portal.faults.drop_after_commit_next = rng.choice([0, 0, 1])
        await worker.run_once()
        if (await outbox.stats()).pending == 0:
            break
        clock.advance(rng.uniform(0, POLICY.cap))
    portal.faults.fail_next = portal.faults.drop_after_commit_next = 0
    await _until_idle(worker, outbox, clock)
    _assert_exactly_once_in_order(portal, serials, 5)
    assert portal.dropped
    assert portal.calls.count("lookup") > 12


async def test_progress_applied_then_answer_lost_is_not_applied_twice(
    engine: AsyncEngine,
) -> None:
    """A progress push whose answer is lost after the portal applied it is read back, found held
    and acknowledged without being sent again (the portal would apply it twice)."""
    portal = FakePortal()
    clock = FakeClock()
    outbox = SqlOutbox(engine, clock=clock)
    worker = _worker(engine, portal, clock)
    await _record(engine, range(1, 4), 0)
    await _until_idle(worker, outbox, clock)
    await _record_events(engine, range(1, 4), 3)
    portal.faults.drop_after_commit_next = 1
    await worker.drain()
    assert portal.dropped == ["push_progress"]
    assert (await outbox.stats()).pending == 9  # nothing marked delivered without an answer
    await _until_idle(worker, outbox, clock)
    _assert_exactly_once_in_order(portal, range(1, 4), 3)
    assert all(portal.keys_seen[f"{make_dossier(1).code}#{n}"] == 1 for n in (1, 2, 3))
    assert portal.calls.count("lookup") >= 3


async def test_dead_letter_waits_for_retry_then_delivers_in_order(engine: AsyncEngine) -> None:
    """A refused dossier dies without blocking others; once fixed and retried it catches up."""
    portal = FakePortal()
    bad = make_dossier(2).code
    portal.faults.refuse.add(bad)
    clock = FakeClock()
    outbox = SqlOutbox(engine, clock=clock)
    worker = _worker(engine, portal, clock)
    await _record(engine, range(1, 4), 2)
    await worker.drain()
    stats = await outbox.stats()
    assert (stats.dead, stats.pending) == (1, 2)  # dossier 2's steps wait behind its dead sync
    (letter,) = await outbox.dead_letters()
    assert letter.dossier_code == bad
    assert letter.last_error
    assert "refused" in letter.last_error
    assert bad not in portal.dossiers
    portal.faults.refuse.clear()
    await outbox.retry(letter.id)
    await _until_idle(worker, outbox, clock)
    _assert_exactly_once_in_order(portal, range(1, 4), 2)


async def test_workers_in_parallel_with_live_writes_deliver_once_in_order(
    engine: AsyncEngine,
) -> None:
    """Three workers (two lanes each) run while events keep arriving: once each, in order."""
    portal = FakePortal()
    clock = FakeClock()
    outbox = SqlOutbox(engine, clock=clock)
    workers = [_worker(engine, portal, clock, dossiers_per_claim=3) for _ in range(3)]
    stop = asyncio.Event()
    runs = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        await _record(engine, range(1, 21), 6)
        for _ in range(500):
            if (await outbox.stats()).pending == 0:
                break
            await asyncio.sleep(0.02)
            clock.advance(0.05)
    finally:
        stop.set()
        await asyncio.gather(*runs)
    _assert_exactly_once_in_order(portal, range(1, 21), 6)


async def test_illegal_moves_never_reach_the_portal(engine: AsyncEngine) -> None:
    """An illegal status move is refused at recording; the portal only sees legal steps."""
    portal = FakePortal()
    clock = FakeClock()
    outbox = SqlOutbox(engine, clock=clock)
    await _record(engine, range(1, 2), 1)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            await record_event(session, make_event(1, 2, DossierStatus.RESULT_DELIVERED))
    except ValueError:
        pass
    else:
        raise AssertionError("an illegal move was accepted")
    await _until_idle(_worker(engine, portal, clock), outbox, clock)
    assert portal.sequences(make_dossier(1).code) == [1]
    assert portal.calls.count("push_progress") == 1


async def test_worker_service_starts_and_stops_with_the_app(engine: AsyncEngine) -> None:
    """As an app service the worker delivers in the background and stops when asked."""
    portal = FakePortal()
    clock = FakeClock()
    service = WorkerService(_worker(engine, portal, clock))
    await service.start()
    try:
        await _record(engine, range(1, 3), 2)
        outbox = SqlOutbox(engine, clock=clock)
        for _ in range(200):
            if (await outbox.stats()).pending == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        await service.stop()
    _assert_exactly_once_in_order(portal, range(1, 3), 2)


async def test_claim_taken_over_from_a_dead_worker_is_read_back_not_resent(
    engine: AsyncEngine,
) -> None:
    """A worker that delivered and died before settling leaves its heads claimed; the next claim
    after the lease marks them in doubt, reads back and sends nothing twice."""
    portal = FakePortal()
    clock = FakeClock()
    outbox = SqlOutbox(engine, clock=clock)
    await _record(engine, range(1, 4), 3)
    dead = _worker(engine, portal, clock)
    claims = await outbox.claim("dead-worker", dossiers_limit=10, items_per_dossier=50)
    assert not any(claim.in_doubt for claim in claims)
    await dead._delivery.deliver(claims)  # the portal applied it all; the settle never happens
    clock.advance(120)  # the lease ends
    again = await outbox.claim("next-worker", dossiers_limit=10, items_per_dossier=50)
    assert all(claim.in_doubt for claim in again)
    assert all(len(claim.history) == 0 and claim.registered_status == 1 for claim in again)
    clock.advance(120)
    await _until_idle(_worker(engine, portal, clock), outbox, clock)
    _assert_exactly_once_in_order(portal, range(1, 4), 3)
    assert all(portal.keys_seen[f"{make_dossier(n).code}#1"] == 1 for n in range(1, 4))


async def test_dossier_the_portal_lost_is_created_again_with_its_steps_in_order(
    engine: AsyncEngine,
) -> None:
    """The portal loses a dossier; its next step is refused as not found: no dead letter — the
    dossier is created as registered, its earlier steps replayed, then the new one."""
    portal = FakePortal()
    clock = FakeClock()
    outbox = SqlOutbox(engine, clock=clock)
    worker = _worker(engine, portal, clock)
    await _record(engine, range(1, 3), 2)
    await _until_idle(worker, outbox, clock)
    lost = make_dossier(1).code
    portal.forget(lost)
    sessions = create_sessionmaker(engine)
    for serial in (1, 2):
        async with sessions() as session, session.begin():
            await record_event(session, make_event(serial, 3, LIFECYCLE[2]))
    await _until_idle(worker, outbox, clock)
    assert (await outbox.stats()).dead == 0
    assert portal.sequences(lost) == [1, 2, 3]
    assert portal.dossiers[lost].status is LIFECYCLE[2]
    assert portal.creates[lost] == 2
    assert portal.sequences(make_dossier(2).code) == [1, 2, 3]
    assert portal.applied_twice() == []


async def test_answer_that_does_not_verify_is_read_back_not_split(engine: AsyncEngine) -> None:
    """A progress call applied whose answer fails its signature check may have been applied: it
    is read back (steps found held), not resent dossier by dossier."""
    portal = FakePortal()
    clock = FakeClock()
    outbox = SqlOutbox(engine, clock=clock)
    worker = _worker(engine, portal, clock)
    await _record(engine, range(1, 4), 0)
    await _until_idle(worker, outbox, clock)
    await _record_events(engine, range(1, 4), 2)
    portal.faults.garble_next = 1
    await _until_idle(worker, outbox, clock)
    assert portal.garbled == 1
    _assert_exactly_once_in_order(portal, range(1, 4), 2)


async def test_dead_letter_retried_after_the_portal_lost_the_dossier(engine: AsyncEngine) -> None:
    """``retry`` marks the head in doubt: the worker reads back, finds the dossier missing and
    creates it again with the steps acknowledged before."""
    portal = FakePortal()
    clock = FakeClock()
    outbox = SqlOutbox(engine, clock=clock)
    worker = _worker(engine, portal, clock)
    await _record(engine, range(1, 2), 2)
    await _until_idle(worker, outbox, clock)
    code = make_dossier(1).code
    portal.faults.refuse.add(code)
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_event(session, make_event(1, 3, LIFECYCLE[2]))
    await worker.drain()
    (letter,) = await outbox.dead_letters()
    assert letter.dossier_code == code
    portal.faults.refuse.clear()
    portal.forget(code)
    await outbox.retry_all()
    await _until_idle(worker, outbox, clock)
    assert portal.sequences(code) == [1, 2, 3]
    assert portal.applied_twice() == []
