"""The dossier write queue: concurrent PUTs and event POSTs share one transaction (group commit).

Every accepted dossier change costs a transaction (and on SQLite an fsync); one per request caps
the API at a few hundred changes a second. :class:`DossierQueue` queues the writes of concurrent
requests; one writer task takes everything queued while the previous transaction ran (up to
``max_batch``), applies it with ``store.dossier_batch.record_writes`` in one transaction — each
write checked against its dossier as the writes before it left it, the events and their outbox
deliveries written together — commits, and wakes each request with its own outcome. A write the
store refuses (illegal move, sequence conflict, unknown dossier) fails only its own request. No
timer: an idle writer starts at once, a busy one batches what arrived meanwhile.

A transaction that fails as a whole (a database error) is retried one write per transaction, so
that a write that cannot be stored fails its own request only. Writes of one dossier keep the
order in which they were submitted. The queue and its writer task are a
``store.batching.CommitQueue``; how a batch is committed is this module's own.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.models import Dossier, DossierEvent
from store.batching import CommitQueue, QueueFigures, Written
from store.deadline_rules import DeadlineRules
from store.dossier_batch import (
    DossierWrite,
    EventWrite,
    PostEvent,
    PutDossier,
    Write,
    WriteResult,
    record_writes,
)

log = logging.getLogger("lienthong.store")

MAX_BATCH = 500


class DossierQueue(QueueFigures):
    """One dossier write queue on ``sessions`` (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        max_batch: int = MAX_BATCH,
        rules: DeadlineRules | None = None,
    ) -> None:
        self._sessions = sessions
        self._rules = rules
        self._queue: CommitQueue[Write] = CommitQueue(
            self._commit, name="dossier-group-commit", max_batch=max_batch, split=_split
        )

    async def put(
        self, dossier: Dossier, *, sectors: Collection[str] | None = None
    ) -> DossierWrite:
        """Register or update ``dossier`` (see ``store.dossiers.record_dossier``)."""
        result = await self.submit(PutDossier(dossier, sectors))
        assert isinstance(result, DossierWrite)
        return result

    async def post(
        self, event: DossierEvent, *, sectors: Collection[str] | None = None
    ) -> EventWrite:
        """Append ``event`` to its dossier (see ``store.dossiers.record_event``)."""
        result = await self.submit(PostEvent(event, sectors))
        assert isinstance(result, EventWrite)
        return result

    async def submit(self, write: Write) -> DossierWrite | EventWrite:
        """Queue ``write``; what it did once committed, or the store's refusal raised."""
        result: WriteResult = await self._queue.put(write)
        if isinstance(result, Exception):
            raise result
        return result

    async def aclose(self) -> None:
        """Wait for the writes already queued to be written."""
        await self._queue.aclose()

    async def _commit(self, writes: list[Write]) -> Written:
        """Apply ``writes`` in one session transaction: one result (or refusal) per write."""
        async with self._sessions() as session, session.begin():
            return Written(await record_writes(session, writes, rules=self._rules))


def _split(size: int, exc: Exception) -> None:
    """Say that a batch failed as a whole (the error's type only: no personal data)."""
    log.warning("dossier batch of %d failed (%s); writing one by one", size, type(exc).__name__)


__all__ = ["MAX_BATCH", "DossierQueue"]
