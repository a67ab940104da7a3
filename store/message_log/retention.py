"""Retention: after their period, the wire messages (personal data) are purged; the chain stays.

Purging sets ``request_wire`` and ``response_wire`` to NULL and stamps ``purged_at``, the
retention period applied (``purge_retention_days``) and ``purge_mac``, an HMAC under the log's key
over the record's place, digest, purge time and period. The bodies are not sealed: the digests of
the messages stay in the chain, so ``log verify`` still proves the order and the metadata of every
exchange (and that a purged record once held a message with that digest). ``log verify`` holds a
purge marker to account: younger than its period, under a period shorter than the one required,
or (with the key) not authenticated, it is a break.
Purging works in small batches so appends are never held up for long.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.times import utc_now
from store.message_log.chain import format_time
from store.message_log.crypto import BodyCipher
from store.tables.message_log import message_log

PURGE_BATCH = 1000


async def purge_bodies(
    engine: AsyncEngine,
    *,
    older_than: dt.timedelta,
    cipher: BodyCipher,
    now: dt.datetime | None = None,
    batch: int = PURGE_BATCH,
) -> int:
    """Purge the messages of exchanges started more than ``older_than`` ago; return how many.

    ``cipher`` (the log's key) authenticates each purge marker.
    """
    if older_than < dt.timedelta(0):
        raise ValueError("the retention period cannot be negative")
    moment = (now or utc_now()).astimezone(dt.UTC)
    cutoff = moment - older_than
    days = older_than.days
    stamped = format_time(moment)
    purged = 0
    while True:
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(message_log.c.seq, message_log.c.digest)
                    .where(message_log.c.purged_at.is_(None))
                    .where(message_log.c.started_at < cutoff)
                    .order_by(message_log.c.seq)
                    .limit(batch)
                )
            ).all()
            if not rows:
                return purged
            await conn.execute(
                update(message_log)
                .where(message_log.c.seq == bindparam("b_seq"))
                .values(
                    request_wire=None,
                    response_wire=None,
                    purged_at=moment,
                    purge_retention_days=days,
                    purge_mac=bindparam("b_mac"),
                ),
                [
                    {
                        "b_seq": row.seq,
                        "b_mac": cipher.purge_mac(row.seq, row.digest, stamped, days),
                    }
                    for row in rows
                ],
            )
            purged += len(rows)


__all__ = ["PURGE_BATCH", "purge_bodies"]
