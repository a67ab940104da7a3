"""The outbox: per-dossier heads, leases, backoff, dead letters and operator retries."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.status import DossierStatus
from store.db import create_sessionmaker
from store.dossiers import record_dossier, record_event
from store.errors import OutboxItemNotFound
from store.outbox import Claim, DeliveryKind, NewDelivery, Outcome, SqlOutbox, enqueue_many
from tests.support.stores import (
    LIFECYCLE,
    FakeClock,
    make_dossier,
    make_event,
)

LEASE = dt.timedelta(seconds=30)


async def _dossier_with_events(engine: AsyncEngine, serial: int, events: int) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(serial))
        for sequence, status in enumerate(LIFECYCLE[:events], start=1):
            await record_event(session, make_event(serial, sequence, status))


def _clock() -> FakeClock:
    return FakeClock()


def _all(claim: Claim) -> tuple[int, ...]:
    return tuple(item.id for item in claim.items)


async def test_claim_takes_a_dossier_whole_and_in_order(engine: AsyncEngine) -> None:
    """A claim holds the dossier's pending items oldest first; no one else can claim it."""
    await _dossier_with_events(engine, 1, 3)
    outbox = SqlOutbox(engine, clock=_clock())
    (claim,) = await outbox.claim("a", lease=LEASE)
    assert [item.kind for item in claim.items] == [DeliveryKind.SYNC_DOSSIER] + [
        DeliveryKind.PUSH_PROGRESS
    ] * 3
    assert [item.id for item in claim.items] == sorted(item.id for item in claim.items)
    assert [item.payload.get("sequence") for item in claim.items[1:]] == [1, 2, 3]
    assert await outbox.claim("b", lease=LEASE) == []


async def test_enqueue_many_numbers_in_order_and_keeps_an_existing_head(
    engine: AsyncEngine,
) -> None:
    """A batch enqueue gives increasing ids in the order given, interleaved dossiers included;
    a dossier with a head keeps it, one without gets its first new item as head."""
    await _dossier_with_events(engine, 1, 0)  # its sync item is its head
    await _dossier_with_events(engine, 2, 0)
    clock = _clock()
    outbox = SqlOutbox(engine, clock=clock)
    (claim,) = await outbox.claim("a", dossiers_limit=1, lease=LEASE)
    await outbox.settle([Outcome(claim, _all(claim))])  # one of them has no head any more
    headless, headed = (
        claim.dossier_code,
        ({make_dossier(1).code, make_dossier(2).code} - {claim.dossier_code}).pop(),
    )

    def delivery(code: str, key: str) -> NewDelivery:
        return NewDelivery(code, DeliveryKind.SYNC_DOSSIER, {"key": key}, key)

    batch = [delivery(headless, "a1"), delivery(headed, "b1"), delivery(headless, "a2")]
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        ids = await enqueue_many(session, batch, now=clock())
        assert await enqueue_many(session, [], now=clock()) == []
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    claims = {c.dossier_code: c for c in await outbox.claim("b", lease=LEASE)}
    assert [item.idempotency_key for item in claims[headless].items] == ["a1", "a2"]
    assert [item.id for item in claims[headless].items] == [ids[0], ids[2]]
    assert claims[headed].items[0].id < ids[1]  # its old head still leads
    assert [item.idempotency_key for item in claims[headed].items][-1] == "b1"


async def test_items_per_dossier_bounds_a_claim(engine: AsyncEngine) -> None:
    """Only the first items_per_dossier items come with a claim; the rest follow later."""
    await _dossier_with_events(engine, 1, 4)
    outbox = SqlOutbox(engine, clock=_clock())
    (claim,) = await outbox.claim("a", items_per_dossier=2, lease=LEASE)
    assert len(claim.items) == 2
    await outbox.settle([Outcome(claim, _all(claim))])
    (rest,) = await outbox.claim("a", items_per_dossier=10, lease=LEASE)
    assert [item.payload["sequence"] for item in rest.items] == [2, 3, 4]


async def test_dossiers_limit_and_disjoint_claims(engine: AsyncEngine) -> None:
    """Claims take at most dossiers_limit dossiers, and two claims never share one."""
    for serial in range(1, 8):
        await _dossier_with_events(engine, serial, 0)
    outbox = SqlOutbox(engine, clock=_clock())
    first = await outbox.claim("a", dossiers_limit=4, lease=LEASE)
    second = await outbox.claim("b", dossiers_limit=4, lease=LEASE)
    codes_a = {c.dossier_code for c in first}
    codes_b = {c.dossier_code for c in second}
    assert len(codes_a) == 4
    assert len(codes_b) == 3
    assert not codes_a & codes_b


async def test_concurrent_claimers_never_share_a_dossier(engine: AsyncEngine) -> None:
    """Claims racing on separate connections split the dossiers without overlap."""
    for serial in range(1, 41):
        await _dossier_with_events(engine, serial, 1)
    outbox = SqlOutbox(engine, clock=_clock())
    batches = await asyncio.gather(
        *(outbox.claim(f"w{n}", dossiers_limit=7, lease=LEASE) for n in range(8))
    )
    codes = [claim.dossier_code for batch in batches for claim in batch]
    assert len(codes) == len(set(codes)) == 40


async def test_expired_lease_is_taken_over_and_stale_settle_is_ignored(
    engine: AsyncEngine,
) -> None:
    """After the lease a new worker claims the dossier; the old worker's settle cannot move it."""
    await _dossier_with_events(engine, 1, 2)
    clock = _clock()
    outbox = SqlOutbox(engine, clock=clock)
    (old,) = await outbox.claim("dead-worker", lease=LEASE)
    clock.advance(LEASE.total_seconds() - 1)
    assert await outbox.claim("new-worker", lease=LEASE) == []
    clock.advance(2)
    (new,) = await outbox.claim("new-worker", lease=LEASE)
    assert new.token != old.token
    assert _all(new) == _all(old)
    await outbox.settle([Outcome(old, _all(old)[:1])])  # late answer from the old worker
    await outbox.settle([Outcome(new, _all(new))])
    stats = await outbox.stats()
    assert (stats.pending, stats.delivered) == (0, 3)
    assert await outbox.claim("x", lease=LEASE) == []


async def test_failure_backs_off_until_retry_time(engine: AsyncEngine) -> None:
    """A failed head is not claimable before its retry time and keeps its later items behind."""
    await _dossier_with_events(engine, 1, 1)
    clock = _clock()
    outbox = SqlOutbox(engine, clock=clock)
    (claim,) = await outbox.claim("a", lease=LEASE)
    first, second = _all(claim)
    retry_at = clock() + dt.timedelta(seconds=10)
    await outbox.settle([Outcome(claim, (first,), failed=second, error="boom", retry_at=retry_at)])
    stats = await outbox.stats()
    assert (stats.pending, stats.delivered, stats.backing_off) == (1, 1, 1)
    clock.advance(9)
    assert await outbox.claim("a", lease=LEASE) == []
    clock.advance(2)
    (again,) = await outbox.claim("a", lease=LEASE)
    assert _all(again) == (second,)
    assert again.items[0].attempts == 1
    assert again.items[0].first_attempt_at is not None


async def test_dead_letter_blocks_its_dossier_until_retried(engine: AsyncEngine) -> None:
    """A dead head stops its dossier (no overtaking), is listed, and retry releases it."""
    await _dossier_with_events(engine, 1, 2)
    await _dossier_with_events(engine, 2, 0)
    clock = _clock()
    outbox = SqlOutbox(engine, clock=clock)
    claims = {c.dossier_code: c for c in await outbox.claim("a", lease=LEASE)}
    one, two = claims[make_dossier(1).code], claims[make_dossier(2).code]
    await outbox.settle(
        [
            Outcome(one, _all(one)[:1], failed=_all(one)[1], error="UpstreamRejected: bad"),
            Outcome(two, _all(two)),
        ]
    )
    (letter,) = await outbox.dead_letters()
    assert (letter.id, letter.dossier_code, letter.last_error) == (
        _all(one)[1],
        one.dossier_code,
        "UpstreamRejected: bad",
    )
    clock.advance(3600)
    assert await outbox.claim("a", lease=LEASE) == []
    with pytest.raises(OutboxItemNotFound):
        await outbox.retry(_all(one)[0])  # delivered, not dead
    await outbox.retry(letter.id)
    (retried,) = await outbox.claim("a", lease=LEASE)
    assert _all(retried) == _all(one)[1:]
    assert retried.items[0].attempts == 0
    assert await outbox.dead_letters() == []


async def test_retry_all_releases_every_dead_letter(engine: AsyncEngine) -> None:
    """retry_all revives every dead letter and returns their number."""
    for serial in (1, 2, 3):
        await _dossier_with_events(engine, serial, 0)
    outbox = SqlOutbox(engine, clock=_clock())
    claims = await outbox.claim("a", lease=LEASE)
    await outbox.settle([Outcome(c, failed=c.items[0].id, error="x") for c in claims])
    assert (await outbox.stats()).dead == 3
    assert await outbox.retry_all() == 3
    assert len(await outbox.claim("a", lease=LEASE)) == 3


async def test_new_item_after_everything_delivered_gets_a_new_head(engine: AsyncEngine) -> None:
    """A dossier whose queue emptied becomes claimable again when a new event is recorded."""
    await _dossier_with_events(engine, 1, 0)
    outbox = SqlOutbox(engine, clock=_clock())
    (claim,) = await outbox.claim("a", lease=LEASE)
    await outbox.settle([Outcome(claim, _all(claim), on_portal=True)])
    assert await outbox.claim("a", lease=LEASE) == []
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_event(session, make_event(1, 1, DossierStatus.ACCEPTED))
    (next_claim,) = await outbox.claim("a", lease=LEASE)
    assert next_claim.on_portal
    assert [item.kind for item in next_claim.items] == [DeliveryKind.PUSH_PROGRESS]


async def test_stats_report_depth_in_flight_and_oldest_age(engine: AsyncEngine) -> None:
    """stats counts items by state, heads in flight, and the oldest pending item's age."""
    await _dossier_with_events(engine, 1, 1)
    await _dossier_with_events(engine, 2, 0)
    clock = _clock()
    outbox = SqlOutbox(engine, clock=clock)
    empty_ok = await outbox.stats()
    assert (empty_ok.pending, empty_ok.delivered, empty_ok.dead) == (3, 0, 0)
    await outbox.claim("a", dossiers_limit=1, lease=LEASE)
    clock.advance(60)
    stats = await outbox.stats()
    assert stats.in_flight == 0  # the lease (30 s) has ended
    assert stats.oldest_pending_age is not None
    assert stats.oldest_pending_age >= dt.timedelta(seconds=60)


async def test_claim_reads_heads_through_the_available_at_index(engine: AsyncEngine) -> None:
    """The claim's head scan can be served by ix_outbox_heads_available_at, without a sort.

    (How it behaves at 10 k and 1 M rows is measured by bench/sync_bench.py.)
    """
    query = (
        "SELECT dossier_code FROM outbox_heads WHERE available_at <= :now "
        "ORDER BY available_at LIMIT 100"
    )
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = await connection.execute(
                text(f"EXPLAIN QUERY PLAN {query}"), {"now": "2030-01-01 00:00:00.000000"}
            )
            plan = " ".join(str(row[-1]) for row in rows)
            assert "TEMP B-TREE" not in plan
        else:  # an empty table: make the planner show whether the index can serve the query
            await connection.execute(text("SET enable_seqscan = off"))
            await connection.execute(text("SET enable_sort = off"))
            rows = await connection.execute(text(f"EXPLAIN {query}"), {"now": now})
            plan = " ".join(str(row[0]) for row in rows)
            assert " Sort " not in f" {plan} "
    assert "ix_outbox_heads_available_at" in plan
