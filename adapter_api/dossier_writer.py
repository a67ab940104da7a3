"""Group commit of dossier writes: concurrent PUTs and event POSTs share one transaction.

Every accepted dossier change costs a transaction (and on SQLite an fsync); one per request caps
the API at a few hundred changes a second. :class:`DossierWriter` queues the writes of concurrent
requests; one writer task takes everything queued while the previous transaction ran (up to
``max_batch``), applies it with ``store.dossier_writes.record_writes`` in one transaction — each
write checked against its dossier as the writes before it left it, the events and their outbox
deliveries written together — commits, and wakes each request with its own outcome. A write the
store refuses (illegal move, sequence conflict, unknown dossier) fails only its own request. No
timer: an idle writer starts at once, a busy one batches what arrived meanwhile.

A transaction that fails as a whole (a database error) is retried one write per transaction, so
that a write that cannot be stored fails its own request only. Writes of one dossier keep the
order in which they were submitted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.models import Dossier, DossierEvent
from store.dossier_writes import (
    DossierWrite,
    EventWrite,
    PostEvent,
    PutDossier,
    Write,
    WriteResult,
    record_writes,
)

log = logging.getLogger("lienthong.api")

MAX_BATCH = 500

_Entry = tuple[Write, "asyncio.Future[WriteResult]"]


class DossierWriter:
    """One write queue on ``sessions`` for the dossier routes (see the module docstring)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, max_batch: int = MAX_BATCH
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._sessions = sessions
        self.max_batch = max_batch
        self._pending: list[_Entry] = []
        self._writer: asyncio.Task[None] | None = None
        #: transactions committed and writes they held (for figures and tests)
        self.transactions = 0
        self.writes = 0

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
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="dossier-group-commit")
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    async def aclose(self) -> None:
        """Wait for the writes already queued to be written."""
        if self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            self._pending = self._pending[self.max_batch :]
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                for _, future in [*batch, *self._pending]:
                    future.cancel()
                self._pending = []
                raise

    async def _write(self, batch: list[_Entry]) -> None:
        try:
            async with self._sessions() as session, session.begin():
                results = await record_writes(session, [write for write, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                log.warning(
                    "dossier batch of %d failed (%s); writing one by one",
                    len(batch),
                    type(exc).__name__,
                )
                for entry in batch:
                    await self._write([entry])
                return
            (_, future) = batch[0]
            if not future.done():
                future.set_exception(exc)
            return
        self.transactions += 1
        self.writes += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


__all__ = ["MAX_BATCH", "DossierWriter"]
