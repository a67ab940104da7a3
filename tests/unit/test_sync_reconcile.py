"""Reconciliation against a fake portal that lost dossiers or steps."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.status import DossierStatus
from store.db import create_sessionmaker
from store.dossiers import get_dossier, record_dossier, record_event
from store.errors import DossierNotFound
from store.outbox import SqlOutbox
from store.reconciliation import Reconciliation
from sync.backoff import RetryPolicy
from sync.reconcile import reconcile, reconcile_one
from sync.testing import FakePortal
from sync.worker import SyncWorker, WorkerSettings
from tests.support.stores import (
    LIFECYCLE,
    FakeClock,
    make_dossier,
    make_event,
)

#: steps per dossier: submitted -> accepted -> processing (each step changes the status)
STEPS = 2


async def _delivered_store(engine: AsyncEngine, portal: FakePortal, serials: range) -> SyncWorker:
    sessions = create_sessionmaker(engine)
    for serial in serials:
        async with sessions() as session, session.begin():
            await record_dossier(session, make_dossier(serial))
            for sequence, status in enumerate(LIFECYCLE[:STEPS], start=1):
                await record_event(session, make_event(serial, sequence, status))
    clock = FakeClock()
    worker = SyncWorker(
        SqlOutbox(engine, clock=clock),
        portal,
        settings=WorkerSettings(retry=RetryPolicy(max_attempts=3)),
        clock=clock,
        rng=random.Random(2),
    )
    await worker.drain()
    return worker


def _forget_last_step(portal: FakePortal, serial: int) -> None:
    code = make_dossier(serial).code
    portal.progress[code].pop()
    previous = portal.progress[code][-1].status
    portal.dossiers[code] = portal.dossiers[code].model_copy(
        update={"status": DossierStatus(previous)}
    )


async def test_reconcile_restores_lost_dossiers_and_steps_once(engine: AsyncEngine) -> None:
    """A dossier the portal lost is re-created with its steps; one behind gets the missing step
    (only that one: the portal applies whatever it is sent)."""
    portal = FakePortal()
    worker = await _delivered_store(engine, portal, range(1, 6))
    del portal.dossiers[make_dossier(1).code]
    del portal.progress[make_dossier(1).code]
    _forget_last_step(portal, 2)
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_event(session, make_event(3, 3, LIFECYCLE[2]))  # in flight: left alone
    totals: list[int] = []
    progress: list[int] = []
    report = await reconcile(
        Reconciliation(engine),
        portal,
        page_size=2,
        on_total=totals.append,
        on_progress=progress.append,
    )
    assert (report.checked, report.in_sync, report.missing, report.behind) == (5, 2, 1, 1)
    assert report.in_flight == 1
    assert report.lookup_failed == 0
    assert totals == [5]
    assert sum(progress) == 5
    assert (report.steps_missing, report.dossiers_missing_steps) == (1, 1)
    assert report.enqueued == 2
    await worker.drain()
    for serial in (1, 2, 4, 5):
        code = make_dossier(serial).code
        assert portal.sequences(code) == [1, 2]
        assert portal.dossiers[code].status is LIFECYCLE[STEPS - 1]
    assert portal.sequences(make_dossier(3).code) == [1, 2, 3]
    assert portal.applied_twice() == []
    assert portal.out_of_order == []
    again = await reconcile(Reconciliation(engine), portal)
    assert again.in_sync == 5
    assert again.enqueued == 0


async def test_dry_run_and_failed_lookups_enqueue_nothing(engine: AsyncEngine) -> None:
    """A dry run only reports; lookups that fail are counted and nothing is enqueued for them."""
    portal = FakePortal()
    await _delivered_store(engine, portal, range(1, 4))
    del portal.dossiers[make_dossier(1).code]
    dry = await reconcile(Reconciliation(engine), portal, dry_run=True)
    assert (dry.missing, dry.enqueued) == (1, 0)
    assert (await SqlOutbox(engine).stats()).pending == 0
    portal.faults.down = True
    down = await reconcile(Reconciliation(engine), portal)
    assert (down.lookup_failed, down.enqueued) == (3, 0)


async def test_an_update_the_portal_lost_is_sent_again(engine: AsyncEngine) -> None:
    """A dossier whose status agrees but whose other fields the portal holds differently (an
    update it lost) is enqueued again and ends as it is here; the portal's own last-change time
    and times finer than its second do not count as a difference."""
    portal = FakePortal()
    worker = await _delivered_store(engine, portal, range(1, 4))
    drifted, retimed = make_dossier(1).code, make_dossier(2).code
    portal.dossiers[drifted] = portal.dossiers[drifted].model_copy(update={"title": "Cũ"})
    held = portal.dossiers[retimed]
    portal.dossiers[retimed] = held.model_copy(
        update={
            "updated_at": held.updated_at + dt.timedelta(hours=1),
            "received_at": held.received_at + dt.timedelta(microseconds=1),
        }
    )
    report = await reconcile(Reconciliation(engine), portal)
    assert (report.in_sync, report.drifted, report.behind, report.missing) == (2, 1, 0, 0)
    assert report.enqueued == 1
    await worker.drain()
    async with create_sessionmaker(engine)() as session:
        local = await get_dossier(session, drifted)
    assert local is not None
    assert portal.dossiers[drifted].title == local.dossier.title != "Cũ"
    assert portal.applied_twice() == []
    again = await reconcile(Reconciliation(engine), portal)
    assert (again.in_sync, again.drifted, again.enqueued) == (3, 0, 0)


async def test_steps_never_sent_by_lienthong_are_reported_and_kept(engine: AsyncEngine) -> None:
    """A step the portal holds that lienthong never sent is reported (dossier and count), never
    deleted; a missing step beside it is sent, once; the foreign one stays."""
    portal = FakePortal()
    worker = await _delivered_store(engine, portal, range(1, 4))
    code = make_dossier(1).code
    foreign = dict(portal.progress[code][0].record, NoiDungXuLy="Nhập tay tại cổng")
    portal.add_foreign_step(code, foreign)
    portal.progress[make_dossier(2).code].pop(0)
    report = await reconcile(Reconciliation(engine), portal)
    assert (report.foreign_steps, report.foreign) == (1, [(code, 1)])
    assert (report.steps_missing, report.in_sync) == (1, 2)  # foreign steps alone: nothing to mend
    await worker.drain()
    assert [p.record["NoiDungXuLy"] for p in portal.progress[code]][-1] == "Nhập tay tại cổng"
    assert portal.sequences(make_dossier(2).code) == [2, 1]
    assert portal.applied_twice() == []
    again = await reconcile(Reconciliation(engine), portal)
    assert (again.foreign_steps, again.steps_missing, again.enqueued) == (1, 0, 0)


async def test_reconcile_one_mends_one_dossier_and_leaves_one_in_flight(
    engine: AsyncEngine,
) -> None:
    """An operator's reconciliation of one dossier: one the portal lost is enqueued and put back;
    one with a delivery pending is left to it; one not stored is ``DossierNotFound``."""
    portal = FakePortal()
    worker = await _delivered_store(engine, portal, range(1, 3))
    store = Reconciliation(engine)
    lost = make_dossier(1).code
    del portal.dossiers[lost]
    del portal.progress[lost]
    report = await reconcile_one(store, portal, lost)
    assert (report.checked, report.missing, report.enqueued) == (1, 1, 1)
    await worker.drain()
    assert portal.sequences(lost) == [1, 2]
    async with create_sessionmaker(engine)() as session, session.begin():
        await record_event(session, make_event(2, 3, LIFECYCLE[2]))
    pending = await reconcile_one(store, portal, make_dossier(2).code)
    assert (pending.in_flight, pending.enqueued) == (1, 0)
    with pytest.raises(DossierNotFound):
        await reconcile_one(store, portal, make_dossier(9).code)
