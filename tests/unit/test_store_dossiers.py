"""Dossiers and events recorded with their outbox items, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.errors import IllegalTransition
from schemas.status import DossierStatus
from store.db import create_sessionmaker
from store.dossiers import (
    SyncStatus,
    get_dossier,
    history,
    record_dossier,
    record_event,
    sync_state,
)
from store.errors import DossierNotFound, InvalidInitialStatus, SequenceConflict
from store.outbox import Outcome, SqlOutbox
from store.tables.dossiers import dossier_events
from store.tables.outbox import outbox
from tests.support.stores import make_dossier, make_event

S = DossierStatus


async def _outbox_rows(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(outbox.c.dossier_code, outbox.c.kind, outbox.c.idempotency_key).order_by(
                outbox.c.id
            )
        )
        return [tuple(row) for row in rows]


async def test_new_dossier_is_stored_and_enqueued_together(engine: AsyncEngine) -> None:
    """Registering a dossier stores it and enqueues one sync_dossier delivery in one commit."""
    sessions = create_sessionmaker(engine)
    dossier = make_dossier(1)
    async with sessions() as session, session.begin():
        write = await record_dossier(session, dossier)
    assert write.created
    assert write.changed
    async with sessions() as session:
        stored = await get_dossier(session, dossier.code)
    assert stored is not None
    assert stored.dossier == dossier
    assert stored.change_seq == write.record.change_seq >= 1
    assert [kind for _, kind, _ in await _outbox_rows(engine)] == ["sync_dossier"]


async def test_rolled_back_transaction_leaves_neither_dossier_nor_delivery(
    engine: AsyncEngine,
) -> None:
    """A caller's rollback undoes the dossier and its outbox item alike."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
        await session.rollback()
    async with sessions() as session:
        assert await get_dossier(session, make_dossier(1).code) is None
    assert await _outbox_rows(engine) == []


async def test_identical_dossier_sent_again_writes_nothing(engine: AsyncEngine) -> None:
    """A PUT repeated with the same content is not a change and enqueues nothing more."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        first = await record_dossier(session, make_dossier(1))
    async with sessions() as session, session.begin():
        again = await record_dossier(session, make_dossier(1))
    assert not again.created
    assert not again.changed
    assert again.record.change_seq == first.record.change_seq
    assert len(await _outbox_rows(engine)) == 1


async def test_dossier_update_enqueues_a_new_sync(engine: AsyncEngine) -> None:
    """Changing a stored dossier enqueues another sync_dossier and moves it on in the feed."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        first = await record_dossier(session, make_dossier(1))
    async with sessions() as session, session.begin():
        second = await record_dossier(session, make_dossier(1, title="Tiêu đề mới"))
    assert second.changed
    assert not second.created
    assert second.record.change_seq > first.record.change_seq
    assert [kind for _, kind, _ in await _outbox_rows(engine)] == ["sync_dossier"] * 2


async def test_new_dossier_must_start_submitted_or_accepted(engine: AsyncEngine) -> None:
    """A dossier registered as already processed is refused and nothing is written."""
    sessions = create_sessionmaker(engine)
    with pytest.raises(InvalidInitialStatus):
        async with sessions() as session, session.begin():
            await record_dossier(session, make_dossier(1, status=S.PROCESSED))
    assert await _outbox_rows(engine) == []


async def test_status_change_through_put_is_checked_and_becomes_an_event(
    engine: AsyncEngine,
) -> None:
    """A PUT that moves the status legally records an event, pushed before the new snapshot."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1, status=S.ACCEPTED))
    async with sessions() as session:
        events = await history(session, make_dossier(1).code)
    assert [(e.sequence, e.status) for e in events] == [(1, S.ACCEPTED)]
    kinds = [kind for _, kind, _ in await _outbox_rows(engine)]
    assert kinds == ["sync_dossier", "push_progress", "sync_dossier"]


async def test_illegal_status_change_through_put_is_refused(engine: AsyncEngine) -> None:
    """A PUT jumping from submitted to processed raises IllegalTransition and writes nothing."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
    with pytest.raises(IllegalTransition):
        async with sessions() as session, session.begin():
            await record_dossier(session, make_dossier(1, status=S.PROCESSED))
    async with sessions() as session:
        stored = await get_dossier(session, make_dossier(1).code)
    assert stored is not None
    assert stored.dossier.status is S.SUBMITTED
    assert len(await _outbox_rows(engine)) == 1


async def test_event_moves_status_and_enqueues_progress_with_its_key(engine: AsyncEngine) -> None:
    """An event appends to the history, moves the status, enqueues push_progress keyed code#seq."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
    async with sessions() as session, session.begin():
        write = await record_event(session, make_event(1, 1, S.ACCEPTED))
    assert not write.replayed
    assert write.record.dossier.status is S.ACCEPTED
    assert write.record.last_sequence == 1
    rows = await _outbox_rows(engine)
    assert rows[-1] == (make_dossier(1).code, "push_progress", f"{make_dossier(1).code}#1")


async def test_illegal_event_is_refused_before_anything_is_written(engine: AsyncEngine) -> None:
    """An illegal move raises IllegalTransition; no event, no outbox item, status unchanged."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
    with pytest.raises(IllegalTransition):
        async with sessions() as session, session.begin():
            await record_event(session, make_event(1, 1, S.RESULT_DELIVERED))
    async with engine.connect() as connection:
        events = await connection.scalar(select(func.count()).select_from(dossier_events))
    assert events == 0
    assert len(await _outbox_rows(engine)) == 1


async def test_replayed_event_is_recognised_and_not_written_twice(engine: AsyncEngine) -> None:
    """The same event sent again (a client retry) is a replay: one event, one delivery."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
    for _ in range(2):
        async with sessions() as session, session.begin():
            write = await record_event(session, make_event(1, 1, S.ACCEPTED))
    assert write.replayed
    assert [kind for _, kind, _ in await _outbox_rows(engine)] == ["sync_dossier", "push_progress"]


async def test_conflicting_or_skipping_sequence_is_refused(engine: AsyncEngine) -> None:
    """A different event under a used sequence, or a gap, raises SequenceConflict."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
        await record_event(session, make_event(1, 1, S.ACCEPTED))
    with pytest.raises(SequenceConflict) as conflict:
        async with sessions() as session, session.begin():
            await record_event(session, make_event(1, 1, S.REFUSED))
    assert conflict.value.expected == 2
    with pytest.raises(SequenceConflict):
        async with sessions() as session, session.begin():
            await record_event(session, make_event(1, 3, S.PROCESSING))


async def test_assigned_sequence_ignores_the_one_given(engine: AsyncEngine) -> None:
    """With assign_sequence the store numbers the event itself."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
        await record_event(session, make_event(1, 1, S.ACCEPTED))
        write = await record_event(session, make_event(1, 9, S.PROCESSING), assign_sequence=True)
    assert write.event.sequence == 2
    assert write.event.idempotency_key.endswith("#2")


async def test_event_for_unknown_dossier_is_not_found(engine: AsyncEngine) -> None:
    """An event for a dossier never registered raises DossierNotFound."""
    sessions = create_sessionmaker(engine)
    with pytest.raises(DossierNotFound):
        async with sessions() as session, session.begin():
            await record_event(session, make_event(5, 1, S.ACCEPTED))
    async with sessions() as session:
        with pytest.raises(DossierNotFound):
            await history(session, make_dossier(5).code)


async def test_sync_state_follows_deliveries(engine: AsyncEngine) -> None:
    """sync_state says pending until the worker settles, then delivered with the delivery time."""
    sessions = create_sessionmaker(engine)
    code = make_dossier(1).code
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
    async with sessions() as session:
        state = await sync_state(session, code)
        assert await sync_state(session, make_dossier(2).code) is None
    assert state is not None
    assert state.status is SyncStatus.PENDING
    assert state.last_delivered_at is None
    outbox_ = SqlOutbox(engine)
    (claim,) = await outbox_.claim("w")
    await outbox_.settle([Outcome(claim, tuple(i.id for i in claim.items), on_portal=True)])
    async with sessions() as session:
        state = await sync_state(session, code)
    assert state is not None
    assert state.status is SyncStatus.DELIVERED
    assert state.last_delivered_at is not None
    assert state.last_delivered_at.tzinfo is not None
    age = dt.datetime.now(dt.UTC) - state.last_delivered_at
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=1)


async def test_sync_state_shows_a_dead_letter_with_its_error(engine: AsyncEngine) -> None:
    """A dossier whose delivery died is 'dead' and carries the last error."""
    sessions = create_sessionmaker(engine)
    code = make_dossier(1).code
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
    outbox_ = SqlOutbox(engine)
    (claim,) = await outbox_.claim("w")
    await outbox_.settle([Outcome(claim, failed=claim.items[0].id, error="UpstreamRejected: no")])
    async with sessions() as session:
        state = await sync_state(session, code)
    assert state is not None
    assert state.status is SyncStatus.DEAD
    assert state.last_error == "UpstreamRejected: no"
