"""The lookup logs: the message log and the access log, written on one group commit.

Every citizen lookup leaves two records — its exchanges in the message log
(:class:`~store.message_log.SqlMessageLog`) and its row in the access log
(:class:`AccessLogWriter`) — and is answered only once both are committed. :class:`LookupLogs`
builds both on one :class:`~store.batching.GroupCommit`, so that a lookup's records and those of
the lookups in flight with it share a transaction (one commit, one fsync on SQLite). It is the
store's face for them: the API records through it, waits on ``together()`` and reads its
``transactions`` and ``items`` for its figures, and never sees the batching underneath.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from store.access_log import AccessLogEntry, CitizenKeyer, current_key, queue_lookups
from store.access_log_keys import KeyRing
from store.batching import MAX_BATCH, DriverTransaction, GroupCommit, Written
from store.message_log import BodyCipher, SqlMessageLog
from store.message_log.signers import CertificateLookup


class AccessLogWriter:
    """Commits access-log entries in batches; ``record`` returns once its entry is committed.

    Rows are keyed with ``key`` (a ring's current key) and carry its id. ``group`` is the group
    commit to share (the message log's, see :class:`LookupLogs`); without one the writer has its
    own. If a batch fails, its entries are retried one by one so that a bad entry fails only its
    own caller.
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
        # the current key's keyed hashing, set up once (a ring is frozen: its current key stays)
        self._keyer = CitizenKeyer(current_key(key))
        self.group = group if group is not None else GroupCommit(engine, max_batch=max_batch)

    async def record(self, entry: AccessLogEntry) -> None:
        """Queue ``entry`` and wait until the transaction holding it has committed (inside
        :meth:`LookupLogs.together`: until the block ends)."""
        await self.group.record(self, entry)

    async def aclose(self) -> None:
        """Wait for the entries already queued to be written."""
        await self.group.aclose()

    async def write_batch(self, tx: DriverTransaction, items: Sequence[Any]) -> Written:
        """Write queued entries in ``tx`` (the group commit's journal side)."""
        if items:
            queue_lookups(tx, items, self._keyer)
        return Written([None] * len(items))


class LookupLogs:
    """The message log and the access log on ``engine``, sharing one group commit.

    ``cipher`` encrypts the message log's bodies and ``certificates`` finds REST signers'
    certificates (see :class:`~store.message_log.SqlMessageLog`); ``access_key`` keys the access
    log's rows (a ring's current key).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        cipher: BodyCipher,
        access_key: bytes | KeyRing,
        *,
        certificates: CertificateLookup | None = None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._group = GroupCommit(engine, max_batch=max_batch)
        self.message_log = SqlMessageLog(
            engine, cipher, certificates=certificates, group=self._group
        )
        self.access_log = AccessLogWriter(engine, access_key, group=self._group)

    def together(self) -> AbstractAsyncContextManager[None]:
        """A block whose records (both logs) are committed together: its end waits for all of
        them and raises the first failure (see :meth:`~store.batching.GroupCommit.together`)."""
        return self._group.together()

    @property
    def transactions(self) -> int:
        """Transactions committed for the two logs."""
        return self._group.transactions

    @property
    def items(self) -> int:
        """Records (of either log) the committed transactions held."""
        return self._group.items

    async def aclose(self) -> None:
        """Wait for the records already queued to be written."""
        await self._group.aclose()


__all__ = ["AccessLogWriter", "LookupLogs"]
