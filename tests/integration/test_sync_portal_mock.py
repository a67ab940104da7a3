"""The sync worker against the portal mock on real HTTP, with the mock's fault injection.

Signed requests, verified answers, the mock's idempotency and ordering rules: what the portal
holds at the end (``GET /_admin/portal/dossiers/{code}``) must be every dossier and every step,
each applied once and in order — through outages, error bursts and answers lost after commit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.errors import IllegalTransition
from schemas.status import DossierStatus
from store.db import create_sessionmaker
from store.dossiers import SyncStatus, record_event, sync_state
from store.outbox import SqlOutbox
from sync.worker import SyncWorker
from tests.integration.sync_support import (
    PortalMock,
    assert_portal_has_exactly,
    clock_now,
    record_dossiers,
    record_steps,
    running_portal_mock,
    worker_for,
)
from tests.support.stores import FakeClock, make_dossier, make_event


@pytest.fixture(scope="module")
def portal_mock(dev_keys: Path) -> Iterator[PortalMock]:
    """One mock for the module, emptied and fault-free before each test."""
    with running_portal_mock(dev_keys) as mock:
        yield mock


@pytest.fixture
def mock(portal_mock: PortalMock) -> PortalMock:
    """The mock, reset."""
    portal_mock.reset()
    return portal_mock


async def _until_delivered(
    worker: SyncWorker, engine: AsyncEngine, clock: FakeClock, *, seconds: float = 60
) -> None:
    outbox = SqlOutbox(engine, clock=clock)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await worker.drain()
        stats = await outbox.stats()
        assert stats.dead == 0
        if stats.pending == 0:
            return
        clock.advance(10)
        await asyncio.sleep(0.05)  # real time for the connector's breaker to let a probe through
    raise AssertionError("the outbox did not drain")


async def test_outage_then_recovery_delivers_all_in_order(
    engine: AsyncEngine, mock: PortalMock, dev_keys: Path
) -> None:
    """Hours of outage (compressed): nothing delivered meanwhile; afterwards all, in order, once."""
    clock = clock_now()
    worker, connector = worker_for(engine, mock, dev_keys, clock)
    try:
        mock.faults(outage=True)
        await record_dossiers(engine, range(1, 9), 4)
        for _ in range(4):
            await worker.drain()
            clock.advance(3600)
        stats = await SqlOutbox(engine, clock=clock).stats()
        assert (stats.delivered, stats.dead, stats.pending) == (0, 0, 8 * 5)
        assert mock.held(make_dossier(1).code) is None
        mock.faults()
        await _until_delivered(worker, engine, clock)
    finally:
        await connector.aclose()
    assert_portal_has_exactly(mock, range(1, 9), 4)
    async with create_sessionmaker(engine)() as session:
        state = await sync_state(session, make_dossier(8).code)
    assert state is not None
    assert state.status is SyncStatus.DELIVERED


async def test_error_bursts_still_deliver_everything_once(
    engine: AsyncEngine, mock: PortalMock, dev_keys: Path
) -> None:
    """A portal failing 40 % of calls: every step arrives once, in order."""
    clock = clock_now()
    worker, connector = worker_for(engine, mock, dev_keys, clock)
    try:
        mock.faults(error_rate=0.4)
        await record_dossiers(engine, range(1, 11), 3)
        await _until_delivered(worker, engine, clock)
    finally:
        await connector.aclose()
    assert_portal_has_exactly(mock, range(1, 11), 3)
    summary = mock.admin.get("/_admin/portal/summary").json()
    assert summary == {"dossiers": 10, "progress": 30}  # the bench's cheap poll agrees


async def test_answers_lost_after_commit_are_applied_once(
    engine: AsyncEngine, mock: PortalMock, dev_keys: Path
) -> None:
    """The portal applies creates and steps but the answers never come: the worker reads back
    and finds them held, so the portal (which applies whatever it gets) holds each once."""
    clock = clock_now()
    worker, connector = worker_for(engine, mock, dev_keys, clock, attempt=0.5)
    try:
        await record_dossiers(engine, range(1, 6), 0)
        mock.faults(drop_after_commit=1.0, drop_count=1, stall_seconds=2)
        await _until_delivered(worker, engine, clock)  # the create's answer is lost
        await record_steps(engine, range(1, 6), 3)
        mock.faults(drop_after_commit=1.0, drop_count=3, stall_seconds=2)
        await _until_delivered(worker, engine, clock)  # three progress answers lost
    finally:
        await connector.aclose()
    arrived = assert_portal_has_exactly(mock, range(1, 6), 3)
    assert set(arrived) == {1}  # no step even reached the portal twice
    assert mock.admin.get("/_admin/faults").json()["counters"]["portal"]["dropped"] >= 1


async def test_illegal_moves_are_refused_before_the_outbox(
    engine: AsyncEngine, mock: PortalMock, dev_keys: Path
) -> None:
    """An illegal status move is refused at recording; the portal never hears of it."""
    clock = clock_now()
    worker, connector = worker_for(engine, mock, dev_keys, clock)
    try:
        await record_dossiers(engine, range(1, 2), 1)
        with pytest.raises(IllegalTransition):
            async with create_sessionmaker(engine)() as session, session.begin():
                await record_event(session, make_event(1, 2, DossierStatus.RESULT_DELIVERED))
        await _until_delivered(worker, engine, clock)
    finally:
        await connector.aclose()
    assert_portal_has_exactly(mock, range(1, 2), 1)
