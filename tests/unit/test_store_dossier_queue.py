"""The dossier write queue's group commit (``DossierQueue``) over the real store, both databases."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import store.dossier_queue as dossier_queue
from schemas.errors import IllegalTransition
from schemas.status import DossierStatus
from store.db import create_sessionmaker
from store.dossier_batch import Write, WriteResult, record_writes
from store.dossier_queue import DossierQueue
from store.dossiers import history
from store.errors import SequenceConflict
from tests.support.stores import make_dossier, make_event

S = DossierStatus


async def test_concurrent_writes_share_transactions_and_each_gets_its_own_answer(
    engine: AsyncEngine,
) -> None:
    """Writes submitted together are committed in fewer transactions than writes, in order;
    an illegal move among them fails only its own caller."""
    writer = DossierQueue(create_sessionmaker(engine))
    await writer.put(make_dossier(1))
    before = writer.transactions
    calls = [
        writer.post(make_event(1, 1, S.ACCEPTED)),
        writer.post(make_event(1, 2, S.RESULT_DELIVERED)),  # illegal from accepted
        writer.post(make_event(1, 2, S.PROCESSING)),
        writer.post(make_event(1, 3, S.PROCESSING)),
        writer.put(make_dossier(2)),
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    await writer.aclose()
    assert isinstance(results[1], IllegalTransition)
    assert [type(r).__name__ for i, r in enumerate(results) if i != 1] == [
        "EventWrite",
        "EventWrite",
        "EventWrite",
        "DossierWrite",
    ]
    assert writer.transactions - before == 1
    async with create_sessionmaker(engine)() as session:
        events = await history(session, make_dossier(1).code)
    assert [(e.sequence, e.status) for e in events] == [
        (1, S.ACCEPTED),
        (2, S.PROCESSING),
        (3, S.PROCESSING),
    ]


async def test_a_batch_that_fails_as_a_whole_is_retried_one_write_at_a_time(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A database error in a shared transaction fails only the write that causes it; a warning
    names the batch's size and the error's type."""
    poisoned = make_dossier(3).code
    real = record_writes

    async def failing(
        session: AsyncSession, writes: Sequence[Write], **options: Any
    ) -> list[WriteResult]:
        if any(write.code == poisoned for write in writes):
            raise OperationalError("INSERT", None, RuntimeError("disk I/O error"))
        return await real(session, writes, **options)

    monkeypatch.setattr(dossier_queue, "record_writes", failing)
    writer = DossierQueue(create_sessionmaker(engine))
    with caplog.at_level(logging.WARNING, logger="lienthong.store"):
        results = await asyncio.gather(
            writer.put(make_dossier(1)),
            writer.put(make_dossier(3)),
            writer.put(make_dossier(2)),
            return_exceptions=True,
        )
    assert [record.getMessage() for record in caplog.records] == [
        "dossier batch of 3 failed (OperationalError); writing one by one"
    ]
    assert isinstance(results[1], OperationalError)
    assert [type(r).__name__ for r in (results[0], results[2])] == ["DossierWrite"] * 2
    with pytest.raises(SequenceConflict):  # the writer still works afterwards
        await writer.post(make_event(1, 2, S.ACCEPTED))
