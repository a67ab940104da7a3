"""The change feed of watched records: ``position`` only grows, readers page by it.

Each event is keyed by ``(kind, record_id, version)``, the snapshot version it produced, so a
resumed refresh cannot record one change twice. Writers hold the feed's lock until commit, so
a reader paging by position never sees position N+1 before N. Cursors: ``store.cursors``
(``CHANGE_CURSOR``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables.watches import record_changes, record_watches
from store.watches.types import ChangeEvent, ChangeType, DiffEntry, WatchKind


async def append_change(
    session: AsyncSession,
    kind: WatchKind,
    record_id: str,
    *,
    version: int,
    change_type: ChangeType,
    digest: str,
    diff: Sequence[DiffEntry],
    observed_at: dt.datetime,
) -> ChangeEvent:
    """Append one change event at the end of the feed (holding the feed's lock until commit)."""
    await _lock_feed(session)
    position = (
        await session.execute(
            insert(record_changes)
            .values(
                kind=kind.value,
                record_id=record_id,
                version=version,
                change_type=change_type.value,
                digest=digest,
                diff=list(diff),
                observed_at=observed_at,
            )
            .returning(record_changes.c.position)
        )
    ).scalar_one()
    return ChangeEvent(
        int(position), kind, record_id, version, change_type, diff, observed_at, None
    )


async def changes_since(
    session: AsyncSession,
    *,
    after: int,
    client: str,
    kinds: Collection[WatchKind] = (WatchKind.CITIZEN, WatchKind.BUSINESS),
    record_id: str | None = None,
    limit: int = 100,
) -> list[ChangeEvent]:
    """The change events after position ``after`` that ``client`` may read, oldest first.

    Business events are public register data: every reader sees them. A citizen's events are
    seen only by a client watching that citizen, and only those observed since its watch began;
    each carries that watch's purpose (for the access log).
    """
    watch = record_watches.alias("w")
    joined = record_changes.outerjoin(
        watch,
        and_(
            watch.c.kind == record_changes.c.kind,
            watch.c.record_id == record_changes.c.record_id,
            watch.c.client == client,
        ),
    )
    citizen_visible = and_(
        record_changes.c.kind == WatchKind.CITIZEN.value,
        watch.c.id.is_not(None),
        watch.c.created_at <= record_changes.c.observed_at,
    )
    query = (
        select(record_changes, watch.c.purpose.label("watch_purpose"))
        .select_from(joined)
        .where(
            record_changes.c.position > after,
            record_changes.c.kind.in_([kind.value for kind in kinds]),
            or_(record_changes.c.kind == WatchKind.BUSINESS.value, citizen_visible),
        )
        .order_by(record_changes.c.position)
        .limit(limit)
    )
    if record_id is not None:
        query = query.where(record_changes.c.record_id == record_id)
    events = []
    for row in await session.execute(query):
        m = row._mapping
        events.append(
            ChangeEvent(
                position=int(m["position"]),
                kind=WatchKind(m["kind"]),
                record_id=m["record_id"],
                version=int(m["version"]),
                change_type=ChangeType(m["change_type"]),
                diff=list(m["diff"]),
                observed_at=m["observed_at"],
                purpose=m["watch_purpose"] if m["kind"] == WatchKind.CITIZEN.value else None,
            )
        )
    return events


async def count_changes(
    session: AsyncSession, kind: WatchKind | None = None, record_id: str | None = None
) -> int:
    """How many change events the feed holds (optionally of one kind, one record)."""
    query = select(func.count()).select_from(record_changes)
    if kind is not None:
        query = query.where(record_changes.c.kind == kind.value)
    if record_id is not None:
        query = query.where(record_changes.c.record_id == record_id)
    return int((await session.execute(query)).scalar_one())


#: the PostgreSQL advisory lock key serialising writers of the change feed ("lienthon" in ASCII)
_FEED_LOCK_KEY = 0x6C69656E74686F6E


async def _lock_feed(session: AsyncSession) -> None:
    """Hold the change feed's write lock until commit, so positions become visible in order.

    A reader paging by position must never see position N+1 committed before N. SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers; PostgreSQL takes a transaction advisory lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_FEED_LOCK_KEY)))


__all__ = ["append_change", "changes_since", "count_changes"]
