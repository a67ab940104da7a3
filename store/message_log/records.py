"""Reading the message log back: stored rows as ``StoredRecord``, with their sealed fields."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store.db import reader
from store.message_log.chain import SealedFields, format_time
from store.message_log.crypto import BodyCipher, BodyKind
from store.message_log.errors import BodyUnavailable
from store.tables.message_log import message_log

READ_BATCH = 500


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One row of the message log: what it seals, its digest and its (encrypted) wire messages."""

    sealed: SealedFields
    digest: str
    started_at: dt.datetime
    finished_at: dt.datetime
    request_wire: bytes | None
    response_wire: bytes | None
    body_key_id: str | None
    purged_at: dt.datetime | None
    purge_retention_days: int | None = None
    purge_mac: str | None = None

    @property
    def seq(self) -> int:
        """The record's position in the chain."""
        return self.sealed.seq

    @property
    def message_id(self) -> str:
        """The exchange's message id."""
        return self.sealed.message_id

    def wire(self, kind: BodyKind, cipher: BodyCipher) -> bytes | None:
        """The decrypted wire message (``None`` when the exchange had no response).

        Raises :class:`BodyUnavailable` when it was purged, and ``BodyDecryptionError`` when it
        does not decrypt for this record.
        """
        stored = self.request_wire if kind == "request" else self.response_wire
        expected = self.sealed.request_sha256 if kind == "request" else self.sealed.response_sha256
        if stored is None:
            if expected is None:
                return None
            raise BodyUnavailable(
                f"the {kind} of record {self.seq} was purged"
                if self.purged_at is not None
                else f"the {kind} of record {self.seq} is missing"
            )
        return cipher.decrypt(stored, seq=self.seq, message_id=self.message_id, kind=kind)


def record_from_row(row: Any) -> StoredRecord:
    """A :class:`StoredRecord` from a ``message_log`` row."""
    fields = {name: getattr(row, name) for name in SealedFields.__dataclass_fields__}
    fields["started_at"] = format_time(row.started_at)
    fields["finished_at"] = format_time(row.finished_at)
    return StoredRecord(
        sealed=SealedFields(**fields),
        digest=row.digest,
        started_at=row.started_at,
        finished_at=row.finished_at,
        request_wire=row.request_wire,
        response_wire=row.response_wire,
        body_key_id=row.body_key_id,
        purged_at=row.purged_at,
        purge_retention_days=getattr(row, "purge_retention_days", None),
        purge_mac=getattr(row, "purge_mac", None),
    )


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only connection that sees one consistent state of the log throughout.

    SQLite: one deferred (read) transaction, a snapshot in WAL mode. PostgreSQL: REPEATABLE READ,
    so records appended while a long walk runs neither appear half-way nor make the head look
    ahead of the chain.
    """
    async with reader(engine).connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            yield conn


async def iter_records(
    conn: AsyncConnection, *, after: int = 0, batch: int = READ_BATCH
) -> AsyncIterator[StoredRecord]:
    """Every record with ``seq > after`` in chain order, read ``batch`` rows at a time."""
    while True:
        rows = (
            await conn.execute(
                select(message_log)
                .where(message_log.c.seq > after)
                .order_by(message_log.c.seq)
                .limit(batch)
            )
        ).all()
        for row in rows:
            yield record_from_row(row)
        if len(rows) < batch:
            return
        after = rows[-1].seq


async def records_for_message(conn: AsyncConnection, message_id: str) -> list[StoredRecord]:
    """Every record of ``message_id`` (one per attempt), in chain order."""
    rows = (
        await conn.execute(
            select(message_log)
            .where(message_log.c.message_id == message_id)
            .order_by(message_log.c.seq)
        )
    ).all()
    return [record_from_row(row) for row in rows]


async def record_at(conn: AsyncConnection, seq: int) -> StoredRecord | None:
    """The record stored at ``seq``, if any."""
    row = (await conn.execute(select(message_log).where(message_log.c.seq == seq))).first()
    return record_from_row(row) if row is not None else None


__all__ = [
    "READ_BATCH",
    "StoredRecord",
    "iter_records",
    "record_at",
    "record_from_row",
    "records_for_message",
    "snapshot",
]
