"""The ministries' feed: dossiers changed since a cursor (or a time), by sector, in change order.

Pages are keyset pages on ``dossiers.change_seq`` read through an index, so the cost of a page
follows its size, never the table's. A sector filter runs one index range per sector and merges
them. ``updated_since`` without a cursor starts at the first position stamped at or after that
time (one index lookup: positions and store times grow together, see ``store.dossiers``).

The cursor is opaque to callers; a page's ``cursor`` is where the next page starts, also when
the page is empty (poll again with it later).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.cursors import FEED_CURSOR
from store.dossiers import DossierRecord, record_from_row
from store.tables.dossiers import dossiers

MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of the feed and the cursor that continues it."""

    items: list[DossierRecord]
    cursor: str
    has_more: bool


def encode_cursor(change_seq: int) -> str:
    """The opaque cursor for the position just after ``change_seq``."""
    return FEED_CURSOR.encode(change_seq)


def decode_cursor(cursor: str) -> int:
    """The position a cursor names; ``InvalidCursor`` when this store did not issue it."""
    return FEED_CURSOR.decode(cursor)


async def feed(
    session: AsyncSession,
    *,
    updated_since: dt.datetime | None = None,
    cursor: str | None = None,
    sectors: Collection[str] | None = None,
    limit: int = 100,
) -> FeedPage:
    """Dossiers changed after ``cursor`` (and at or after ``updated_since``), oldest change first.

    ``sectors`` limits the page to those sector codes (an empty collection gives an empty page).
    """
    limit = max(1, min(limit, MAX_LIMIT))
    after = decode_cursor(cursor) if cursor else 0
    if updated_since is not None:
        first = await session.scalar(
            select(dossiers.c.change_seq)
            .where(dossiers.c.updated_at >= updated_since)
            .order_by(dossiers.c.updated_at, dossiers.c.change_seq)
            .limit(1)
        )
        if first is None:
            latest = await session.scalar(
                select(dossiers.c.change_seq).order_by(dossiers.c.change_seq.desc()).limit(1)
            )
            return FeedPage([], encode_cursor(max(after, int(latest or 0))), has_more=False)
        after = max(after, int(first) - 1)
    if sectors is None:
        rows = await _page(session, after, updated_since, None, limit + 1)
    else:
        ranges = [
            await _page(session, after, updated_since, s, limit + 1) for s in sorted(set(sectors))
        ]
        rows = list(heapq.merge(*ranges, key=lambda row: row.change_seq))[: limit + 1]
    has_more = len(rows) > limit
    rows = rows[:limit]
    items = [record_from_row(row) for row in rows]
    next_after = items[-1].change_seq if items else after
    return FeedPage(items, encode_cursor(next_after), has_more)


async def _page(
    session: AsyncSession,
    after: int,
    updated_since: dt.datetime | None,
    sector: str | None,
    limit: int,
) -> list[Any]:
    query = select(dossiers).where(dossiers.c.change_seq > after)
    if sector is not None:
        query = query.where(dossiers.c.sector == sector)
    if updated_since is not None:
        query = query.where(dossiers.c.updated_at >= updated_since)
    result = await session.execute(query.order_by(dossiers.c.change_seq).limit(limit))
    return list(result.all())


__all__ = ["MAX_LIMIT", "FeedPage", "decode_cursor", "encode_cursor", "feed"]
