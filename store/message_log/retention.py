"""Retention: after their period, the wire messages (personal data) are purged; the chain stays.

Purging sets ``request_wire`` and ``response_wire`` to NULL and stamps ``purged_at``. Neither is
sealed: the digests of the messages stay in the chain, so ``log verify`` still proves the order
and the metadata of every exchange (and that a purged record once held a message with that digest).
Purging works in small batches so appends are never held up for long.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from store.tables.message_log import message_log
from store.types import utc_now

PURGE_BATCH = 1000


async def purge_bodies(
    engine: AsyncEngine,
    *,
    older_than: dt.timedelta,
    now: dt.datetime | None = None,
    batch: int = PURGE_BATCH,
) -> int:
    """Purge the messages of exchanges started more than ``older_than`` ago; return how many."""
    if older_than < dt.timedelta(0):
        raise ValueError("the retention period cannot be negative")
    moment = now or utc_now()
    cutoff = moment - older_than
    purged = 0
    while True:
        async with engine.begin() as conn:
            seqs = (
                (
                    await conn.execute(
                        select(message_log.c.seq)
                        .where(message_log.c.purged_at.is_(None))
                        .where(message_log.c.started_at < cutoff)
                        .order_by(message_log.c.seq)
                        .limit(batch)
                    )
                )
                .scalars()
                .all()
            )
            if not seqs:
                return purged
            await conn.execute(
                update(message_log)
                .where(message_log.c.seq.in_(seqs))
                .values(request_wire=None, response_wire=None, purged_at=moment)
            )
            purged += len(seqs)


__all__ = ["PURGE_BATCH", "purge_bodies"]
