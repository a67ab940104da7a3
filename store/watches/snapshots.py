"""The last known version of each watched record, one row per record whoever watches it.

A snapshot only moves forward by compare and set on its version (:func:`advance_snapshot`), so
two refreshers racing, or a refresh resumed after an outage, never advance it twice for one
change. What counts as a change is ``watches.observations``' rule, not the store's.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import ColumnElement, RowMapping, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables.watches import record_snapshots
from store.watches.types import Snapshot, WatchKind


async def get_snapshot(session: AsyncSession, kind: WatchKind, record_id: str) -> Snapshot | None:
    """The last known version of the record, or ``None`` before its first refresh."""
    row = (
        await session.execute(
            select(record_snapshots).where(
                record_snapshots.c.kind == kind.value, record_snapshots.c.record_id == record_id
            )
        )
    ).one_or_none()
    return _snapshot(row._mapping) if row is not None else None


async def insert_snapshot(
    session: AsyncSession,
    kind: WatchKind,
    record_id: str,
    *,
    found: bool,
    canonical: str | None,
    digest: str,
    fetched_at: dt.datetime,
) -> None:
    """Store the first known version of the record (version 1, never changed yet)."""
    await session.execute(
        insert(record_snapshots).values(
            kind=kind.value,
            record_id=record_id,
            found=found,
            canonical=canonical,
            digest=digest,
            version=1,
            fetched_at=fetched_at,
            changed_at=None,
        )
    )


async def touch_snapshot(
    session: AsyncSession, snapshot: Snapshot, *, fetched_at: dt.datetime
) -> None:
    """Record that ``snapshot`` was read again unchanged (if its version is still the one read)."""
    await session.execute(
        update(record_snapshots).where(_key(snapshot)).values(fetched_at=fetched_at)
    )


async def advance_snapshot(
    session: AsyncSession,
    snapshot: Snapshot,
    *,
    found: bool,
    canonical: str | None,
    digest: str,
    observed_at: dt.datetime,
) -> int | None:
    """Move ``snapshot`` to its next version; that version, or ``None`` when another writer
    advanced it since it was read (compare and set on the version)."""
    version = snapshot.version + 1
    result = await session.execute(
        update(record_snapshots)
        .where(_key(snapshot))
        .values(
            found=found,
            canonical=canonical,
            digest=digest,
            version=version,
            fetched_at=observed_at,
            changed_at=observed_at,
        )
    )
    return version if getattr(result, "rowcount", 0) else None


def _key(snapshot: Snapshot) -> ColumnElement[bool]:
    return and_(
        record_snapshots.c.kind == snapshot.kind.value,
        record_snapshots.c.record_id == snapshot.record_id,
        record_snapshots.c.version == snapshot.version,
    )


def _snapshot(m: RowMapping) -> Snapshot:
    return Snapshot(
        kind=WatchKind(m["kind"]),
        record_id=m["record_id"],
        found=bool(m["found"]),
        canonical=json.loads(m["canonical"]) if m["canonical"] is not None else None,
        digest=m["digest"],
        version=int(m["version"]),
        fetched_at=m["fetched_at"],
        changed_at=m["changed_at"],
    )


__all__ = ["advance_snapshot", "get_snapshot", "insert_snapshot", "touch_snapshot"]
