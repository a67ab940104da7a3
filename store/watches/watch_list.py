"""The watch list: who watches which citizen or business, with the purpose that allows it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import RowMapping, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables.watches import record_watches
from store.watches.types import RefreshTarget, Watch, WatchKind


async def put_watch(session: AsyncSession, watch: Watch, *, now: dt.datetime) -> bool:
    """Register ``watch`` (or update its purpose); ``True`` when it is new."""
    key = _watch_key(watch.kind, watch.record_id, watch.client)
    existing = (await session.execute(select(record_watches.c.id).where(key))).scalar_one_or_none()
    if existing is not None:
        await session.execute(
            update(record_watches)
            .where(record_watches.c.id == existing)
            .values(purpose=watch.purpose, official=watch.official, updated_at=now)
        )
        return False
    await session.execute(
        insert(record_watches).values(
            kind=watch.kind.value,
            record_id=watch.record_id,
            client=watch.client,
            purpose=watch.purpose,
            official=watch.official,
            created_at=now,
            updated_at=now,
        )
    )
    return True


async def delete_watch(session: AsyncSession, kind: WatchKind, record_id: str, client: str) -> bool:
    """Stop ``client`` watching the record; ``True`` when there was a watch to remove."""
    result = await session.execute(
        delete(record_watches).where(_watch_key(kind, record_id, client))
    )
    return bool(getattr(result, "rowcount", 0))


async def get_watch(
    session: AsyncSession, kind: WatchKind, record_id: str, client: str
) -> Watch | None:
    """``client``'s watch of the record, if any."""
    row = (
        await session.execute(select(record_watches).where(_watch_key(kind, record_id, client)))
    ).one_or_none()
    return _watch(row._mapping) if row is not None else None


async def list_watches(
    session: AsyncSession,
    *,
    client: str | None = None,
    kind: WatchKind | None = None,
    limit: int = 1000,
) -> list[Watch]:
    """Watches, optionally of one client and one kind, ordered by kind and record id."""
    query = select(record_watches)
    if client is not None:
        query = query.where(record_watches.c.client == client)
    if kind is not None:
        query = query.where(record_watches.c.kind == kind.value)
    query = query.order_by(
        record_watches.c.kind, record_watches.c.record_id, record_watches.c.client
    ).limit(limit)
    return [_watch(row._mapping) for row in await session.execute(query)]


async def count_watched_records(session: AsyncSession, kind: WatchKind | None = None) -> int:
    """How many distinct records are watched (by anyone)."""
    inner = select(record_watches.c.kind, record_watches.c.record_id).distinct()
    if kind is not None:
        inner = inner.where(record_watches.c.kind == kind.value)
    sub = inner.subquery()
    return int((await session.execute(select(func.count()).select_from(sub))).scalar_one())


async def refresh_targets(
    session: AsyncSession,
    kind: WatchKind,
    *,
    after: str | None,
    limit: int,
    prefer: Callable[[Watch], bool] | None = None,
) -> list[RefreshTarget]:
    """The next ``limit`` watched records of ``kind`` after ``after``, in record id order.

    Each comes with the watch it is re-read for: the earliest one that ``prefer`` accepts (e.g.
    one whose purpose is a dossier code), or else the earliest one.
    """
    ids = (
        select(record_watches.c.record_id)
        .where(record_watches.c.kind == kind.value)
        .group_by(record_watches.c.record_id)
        .order_by(record_watches.c.record_id)
        .limit(limit)
    )
    if after is not None:
        ids = ids.where(record_watches.c.record_id > after)
    record_ids = list((await session.execute(ids)).scalars())
    if not record_ids:
        return []
    rows = await session.execute(
        select(record_watches)
        .where(record_watches.c.kind == kind.value, record_watches.c.record_id.in_(record_ids))
        .order_by(record_watches.c.id)
    )
    chosen: dict[str, Watch] = {}
    for row in rows:
        watch = _watch(row._mapping)
        current = chosen.get(watch.record_id)
        if current is None or (prefer is not None and not prefer(current) and prefer(watch)):
            chosen[watch.record_id] = watch
    return [
        RefreshTarget(kind, record_id, w.client, w.purpose, w.official)
        for record_id in record_ids
        for w in (chosen[record_id],)
    ]


def _watch_key(kind: WatchKind, record_id: str, client: str) -> Any:
    return and_(
        record_watches.c.kind == kind.value,
        record_watches.c.record_id == record_id,
        record_watches.c.client == client,
    )


def _watch(m: RowMapping) -> Watch:
    return Watch(
        WatchKind(m["kind"]),
        m["record_id"],
        m["client"],
        m["purpose"],
        official=m["official"],
        created_at=m["created_at"],
    )


__all__ = [
    "count_watched_records",
    "delete_watch",
    "get_watch",
    "list_watches",
    "put_watch",
    "refresh_targets",
]
