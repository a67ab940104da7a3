"""Writing citizen lookups to the access log (``store.access_log``) with group commit.

A lookup's answer is sent only once its access-log row is committed, but the rows of lookups
that arrive together share one transaction: :class:`AccessLogWriter` is a journal of a
:class:`~store.message_log.group_commit.GroupCommit`, whose writer task commits whatever has been
queued since its last commit (up to ``max_batch``). Bootstrap gives the access log and the
message log the same group commit, so a lookup's access-log row and the message-log records of
other lookups in flight share a transaction (one commit, one fsync). If a batch fails, its
entries are retried one by one so that a bad entry fails only its own request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from adapter_api.clients import CITIZEN_FIELDS, ApiClient
from connectors.base import CallContext
from schemas.times import utc_now
from store.access_log import AccessLogEntry, insert_lookups
from store.access_log_keys import KeyRing
from store.message_log.driver_sql import DriverTransaction
from store.message_log.group_commit import MAX_BATCH, GroupCommit, Written


class AccessLogWriter:
    """Commits access-log entries in batches; ``record`` returns once its entry is committed.

    Rows are keyed with ``key`` (a ring's current key) and carry its id. ``group`` is the group
    commit to share (the message log's); without one the writer has its own.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        key: bytes | KeyRing,
        *,
        max_batch: int = MAX_BATCH,
        group: GroupCommit | None = None,
    ) -> None:
        self._key = key
        self.group = group if group is not None else GroupCommit(engine, max_batch=max_batch)

    async def record(self, entry: AccessLogEntry) -> None:
        """Queue ``entry`` and wait until the transaction holding it has committed (inside
        ``group.together()``: until the block ends)."""
        await self.group.record(self, entry)

    async def aclose(self) -> None:
        """Wait for the entries already queued to be written."""
        await self.group.aclose()

    async def write_batch(self, tx: DriverTransaction, items: Sequence[Any]) -> Written:
        """Write queued entries in ``tx`` (the group commit's journal side)."""
        await insert_lookups(tx, items, key=self._key)
        return Written([None] * len(items))


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


def refused_entry(
    citizen_id: str,
    client: ApiClient,
    *,
    official: str | None,
    dossier_code: str | None,
    operation: str,
    request_id: str,
) -> AccessLogEntry:
    """The access-log entry of a query refused before anything was asked (outcome ``refused``:
    no fields, no upstream message)."""
    return AccessLogEntry(
        citizen_id=citizen_id,
        client_id=client.client_id,
        organisation=client.organisation,
        official=official,
        dossier_code=dossier_code,
        operation=operation,
        fields=(),
        request_id=request_id,
        message_id=None,
        occurred_at=utc_now(),
        outcome="refused",
    )


__all__ = ["MAX_BATCH", "AccessLogWriter", "access_entry", "refused_entry"]
