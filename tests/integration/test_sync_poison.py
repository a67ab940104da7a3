"""Poison isolation against the portal mock on real HTTP: a dossier that cannot be sent is a dead
letter of its own, with its reason, and the dossiers beside it go through in the same cycle."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import create_sessionmaker
from store.dossiers import record_dossier
from store.outbox import SqlOutbox
from tests.integration.sync_support import (
    PortalMock,
    assert_portal_has_exactly,
    clock_now,
    record_steps,
    running_portal_mock,
    worker_for,
)
from tests.support.stores import make_dossier

#: a due date the portal's form (yyyyMMddHHmmss in Vietnam time) cannot hold: 23:00 UTC on
#: 31 December 9999 is in the year 10000 in Vietnam
FAR = dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def portal_mock(dev_keys: Path) -> Iterator[PortalMock]:
    """One mock for the module, emptied and fault-free before each test."""
    with running_portal_mock(dev_keys) as mock:
        yield mock


async def test_one_poisoned_dossier_among_forty_dies_alone(
    engine: AsyncEngine, portal_mock: PortalMock, dev_keys: Path
) -> None:
    """1 poisoned + 39 healthy dossiers with 2 steps each, in one claim: after one cycle the 39
    are at the portal with their steps; the poisoned one is a dead letter after one attempt
    (not retried as transient), saying why; its steps wait behind it."""
    portal_mock.reset()
    poisoned = 7
    sessions = create_sessionmaker(engine)
    for serial in range(1, 41):
        dossier = make_dossier(serial)
        if serial == poisoned:
            dossier = dossier.model_copy(update={"due_at": FAR})
        async with sessions() as session, session.begin():
            await record_dossier(session, dossier)
    await record_steps(engine, range(1, 41), 2)
    clock = clock_now()
    worker, connector = worker_for(engine, portal_mock, dev_keys, clock)
    try:
        result = await worker.run_once()  # cycles of ten dossiers, no waiting between them
        while result.claimed:
            result = await worker.run_once()
    finally:
        await connector.aclose()
    outbox = SqlOutbox(engine, clock=clock)
    stats = await outbox.stats()
    assert (stats.delivered, stats.dead, stats.pending) == (39 * 3, 1, 2)
    (letter,) = await outbox.dead_letters()
    assert letter.dossier_code == make_dossier(poisoned).code
    assert letter.attempts == 1
    assert letter.last_error is not None
    assert "UNCONVERTIBLE" in letter.last_error
    assert portal_mock.held(make_dossier(poisoned).code) is None
    healthy = [n for n in range(1, 41) if n != poisoned]
    for block in (range(1, poisoned), range(poisoned + 1, 41)):
        assert_portal_has_exactly(portal_mock, block, 2)
    assert len(healthy) == 39
