"""Writing citizen lookups to the access log (``store.access_log``) with group commit.

A lookup's answer is sent only once its access-log row is committed, but the rows of lookups
that arrive together share one transaction: :class:`AccessLogWriter` queues entries and one
writer task commits whatever has queued since its last commit (up to ``max_batch``), so under
load one commit (and one fsync) serves many lookups. If a batch fails, its entries are retried
one by one so that a bad entry fails only its own request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

from adapter_api.clients import CITIZEN_FIELDS, ApiClient
from connectors.base import CallContext
from schemas.times import utc_now
from store.access_log import AccessLogEntry, record_lookups

MAX_BATCH = 256


class AccessLogWriter:
    """Commits access-log entries in batches; ``record`` returns once its entry is committed."""

    def __init__(self, engine: AsyncEngine, key: bytes, *, max_batch: int = MAX_BATCH) -> None:
        self._engine = engine
        self._key = key
        self._max_batch = max_batch
        self._pending: list[tuple[AccessLogEntry, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, entry: AccessLogEntry) -> None:
        """Queue ``entry`` and wait until the transaction holding it has committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="access-log-writer")
        await future

    async def aclose(self) -> None:
        """Wait for the entries already queued to be written."""
        if self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            self._pending = self._pending[self._max_batch :]
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[tuple[AccessLogEntry, asyncio.Future[None]]]) -> None:
        try:
            async with self._engine.begin() as connection:
                await record_lookups(connection, [entry for entry, _ in batch], key=self._key)
        except Exception as exc:
            if len(batch) > 1:
                for item in batch:
                    await self._write_batch([item])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)


def access_entry(
    citizen_id: str,
    client: ApiClient,
    ctx: CallContext,
    operation: str,
    fields: Iterable[str],
    request_id: str,
) -> AccessLogEntry:
    """The access-log entry of ``client`` querying ``citizen_id`` for ``ctx.issue``."""
    wanted = set(fields)
    return AccessLogEntry(
        citizen_id=citizen_id,
        client_id=client.client_id,
        organisation=client.organisation,
        official=ctx.user_id,
        dossier_code=ctx.issue,
        operation=operation,
        fields=tuple(name for name in CITIZEN_FIELDS if name in wanted),
        request_id=request_id,
        message_id=ctx.message_id,
        occurred_at=utc_now(),
    )


__all__ = ["MAX_BATCH", "AccessLogWriter", "access_entry"]
