"""Many dossier writes in one transaction (``record_writes``), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from schemas.errors import IllegalTransition
from schemas.status import DossierStatus
from store.db import create_sessionmaker
from store.dossier_batch import (
    DossierWrite,
    EventWrite,
    PostEvent,
    PutDossier,
    Write,
    WriteResult,
    record_writes,
)
from store.dossiers import get_dossier, history, record_dossier
from store.errors import DossierNotFound, InvalidInitialStatus, SequenceConflict
from store.outbox import SqlOutbox
from store.tables.dossiers import dossier_events, dossiers
from store.tables.outbox import outbox, outbox_heads
from tests.support.stores import make_dossier, make_event

S = DossierStatus


async def _items(engine: AsyncEngine) -> list[tuple[int, str, str, str]]:
    """The outbox as (id, dossier, kind, key), in id order."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                outbox.c.id, outbox.c.dossier_code, outbox.c.kind, outbox.c.idempotency_key
            ).order_by(outbox.c.id)
        )
        return [(int(r.id), r.dossier_code, r.kind, r.idempotency_key) for r in rows]


async def _count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def test_a_batch_writes_each_dossier_as_its_writes_would_one_by_one(
    engine: AsyncEngine,
) -> None:
    """New dossiers, their events and an update in one batch: every dossier's history and
    deliveries are in the order of its writes, one head each, one feed position each."""
    sessions = create_sessionmaker(engine)
    one, two = make_dossier(1), make_dossier(2)
    writes: list[Write] = [
        PutDossier(one),
        PutDossier(two),
        PostEvent(make_event(1, 1, S.ACCEPTED)),
        PostEvent(make_event(2, 1, S.ACCEPTED)),
        PostEvent(make_event(1, 2, S.PROCESSING)),
        PutDossier(
            two.model_copy(
                update={
                    "status": S.PROCESSING,
                    "title": "Tiêu đề mới",
                    "updated_at": two.received_at + dt.timedelta(hours=2),
                }
            )
        ),
    ]
    async with sessions() as session, session.begin():
        results = await record_writes(session, writes)
    assert [type(r) for r in results] == [DossierWrite, DossierWrite] + [EventWrite] * 3 + [
        DossierWrite
    ]
    first, second = results[0], results[5]
    assert isinstance(first, DossierWrite)
    assert first.created
    assert isinstance(second, DossierWrite)
    assert second.changed
    assert not second.created
    assert second.record.last_sequence == 2  # the PUT's status change became event 2
    async with sessions() as session:
        assert [(e.sequence, e.status) for e in await history(session, one.code)] == [
            (1, S.ACCEPTED),
            (2, S.PROCESSING),
        ]
        assert [(e.sequence, e.status) for e in await history(session, two.code)] == [
            (1, S.ACCEPTED),
            (2, S.PROCESSING),
        ]
        stored_one = await get_dossier(session, one.code)
        stored_two = await get_dossier(session, two.code)
    assert stored_one is not None
    assert stored_two is not None
    assert stored_one.dossier.status is S.PROCESSING
    assert stored_two.dossier.title == "Tiêu đề mới"
    assert stored_one.change_seq != stored_two.change_seq
    items = await _items(engine)
    assert [key for _, code, _, key in items if code == one.code][1:] == [
        f"{one.code}#1",
        f"{one.code}#2",
    ]
    assert [kind for _, code, kind, _ in items if code == two.code] == [
        "sync_dossier",
        "push_progress",
        "push_progress",
        "sync_dossier",
    ]
    claims = await SqlOutbox(engine).claim("w")
    assert {c.dossier_code: [i.id for i in c.items] for c in claims} == {
        code: [i for i, c, _, _ in items if c == code] for code in (one.code, two.code)
    }


async def test_an_illegal_move_fails_only_itself_and_later_writes_see_the_state_before_it(
    engine: AsyncEngine,
) -> None:
    """In one batch an illegal move and a conflicting sequence get their own errors; the writes
    around them go ahead, checked against the dossier as the accepted ones left it."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
    writes: list[Write] = [
        PostEvent(make_event(1, 1, S.ACCEPTED)),
        PostEvent(make_event(1, 2, S.RESULT_DELIVERED)),  # accepted → delivered: illegal
        PostEvent(make_event(1, 2, S.PROCESSING)),
        PostEvent(make_event(1, 4, S.PROCESSING)),  # a gap
        PostEvent(make_event(1, 2, S.PROCESSING)),  # sent again: a replay
        PostEvent(make_event(1, 1, S.REFUSED)),  # another step under a used sequence
        PutDossier(make_dossier(7, status=S.PROCESSED)),  # may not start processed
        PostEvent(make_event(8, 1, S.ACCEPTED)),  # never registered
    ]
    async with sessions() as session, session.begin():
        results = await record_writes(session, writes)
    assert isinstance(results[0], EventWrite)
    assert not results[0].replayed
    assert isinstance(results[1], IllegalTransition)
    assert isinstance(results[2], EventWrite)
    assert not results[2].replayed
    assert isinstance(results[3], SequenceConflict)
    assert results[3].expected == 3
    assert isinstance(results[4], EventWrite)
    assert results[4].replayed
    assert isinstance(results[5], SequenceConflict)
    assert isinstance(results[6], InvalidInitialStatus)
    assert isinstance(results[7], DossierNotFound)
    async with sessions() as session:
        events = await history(session, make_dossier(1).code)
        assert await get_dossier(session, make_dossier(7).code) is None
    assert [(e.sequence, e.status) for e in events] == [(1, S.ACCEPTED), (2, S.PROCESSING)]
    assert [key for *_, key in await _items(engine)][1:] == [
        f"{make_dossier(1).code}#1",
        f"{make_dossier(1).code}#2",
    ]


async def test_a_client_retry_of_an_earlier_batch_is_a_replay(engine: AsyncEngine) -> None:
    """An event stored by an earlier transaction, sent again in a batch, writes nothing."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_writes(
            session, [PutDossier(make_dossier(1)), PostEvent(make_event(1, 1, S.ACCEPTED))]
        )
    async with sessions() as session, session.begin():
        (again,) = await record_writes(session, [PostEvent(make_event(1, 1, S.ACCEPTED))])
    assert isinstance(again, EventWrite)
    assert again.replayed
    assert await _count(engine, dossier_events) == 1
    assert len(await _items(engine)) == 2


async def test_a_writer_limited_to_sectors_cannot_touch_other_sectors(engine: AsyncEngine) -> None:
    """A stored dossier outside the writer's sectors is answered as missing and left alone."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1, sector="YT"))
    mine = frozenset({"TP"})
    async with sessions() as session, session.begin():
        results = await record_writes(
            session,
            [
                PutDossier(make_dossier(1, sector="TP"), sectors=mine),
                PostEvent(make_event(1, 1, S.ACCEPTED), sectors=mine),
                PutDossier(make_dossier(2, sector="TP"), sectors=mine),
            ],
        )
    assert isinstance(results[0], DossierNotFound)
    assert isinstance(results[1], DossierNotFound)
    assert isinstance(results[2], DossierWrite)
    assert results[2].created
    async with sessions() as session:
        stored = await get_dossier(session, make_dossier(1).code)
    assert stored is not None
    assert stored.dossier.sector_code == "YT"
    assert await _count(engine, dossier_events) == 0


async def test_a_rolled_back_batch_leaves_neither_events_nor_deliveries(
    engine: AsyncEngine,
) -> None:
    """The transactional outbox: rolling the batch's transaction back undoes all of it."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_dossier(session, make_dossier(1))
    async with sessions() as session, session.begin():
        await record_writes(
            session,
            [PostEvent(make_event(1, 1, S.ACCEPTED)), PutDossier(make_dossier(2))],
        )
        await session.rollback()
    assert await _count(engine, dossier_events) == 0
    assert await _count(engine, dossiers) == 1
    assert len(await _items(engine)) == 1
    assert await _count(engine, outbox_heads) == 1


async def test_a_dossier_created_meanwhile_by_another_writer_is_updated_not_duplicated(
    engine: AsyncEngine,
) -> None:
    """PostgreSQL: a batch that would create a dossier another transaction is creating waits
    for it, then treats the dossier as stored (an update) — the rest of the batch unchanged."""
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL only (SQLite has one writer at a time)")
    sessions = create_sessionmaker(engine)
    theirs, ours = make_dossier(1), make_dossier(1, title="Đã sửa")
    async with sessions() as other, sessions() as session:
        async with other.begin():
            await record_dossier(other, theirs)
            batch = asyncio.create_task(
                _in_transaction(session, [PutDossier(ours), PutDossier(make_dossier(2))])
            )
            await asyncio.sleep(0.3)  # the batch now waits on the uncommitted row
            assert not batch.done()
        results = await batch
    assert isinstance(results[0], DossierWrite)
    assert (results[0].created, results[0].changed) == (False, True)
    assert isinstance(results[1], DossierWrite)
    assert results[1].created
    async with sessions() as session:
        stored = await get_dossier(session, ours.code)
    assert stored is not None
    assert stored.dossier.title == "Đã sửa"
    assert [kind for _, code, kind, _ in await _items(engine) if code == ours.code] == [
        "sync_dossier",
        "sync_dossier",
    ]


async def _in_transaction(session: AsyncSession, writes: list[Write]) -> list[WriteResult]:
    async with session.begin():
        return await record_writes(session, writes)
