"""Refresh passes over the watch list: leased to one refresher, resumable after an outage.

One row per pass holds its progress per kind (the last record id done, whether the kind is
finished), so a pass cut short resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables.watches import record_refresh_runs
from store.watches.types import RefreshRun, WatchKind


async def open_refresh_run(
    session: AsyncSession, *, owner: str, now: dt.datetime, lease: dt.timedelta
) -> RefreshRun | None:
    """The refresh pass to work on, leased to ``owner``; ``None`` when another holds a live lease.

    An unfinished pass is resumed where it stopped (its lease expired or released); otherwise a
    new pass starts from the beginning.
    """
    row = (
        await session.execute(
            select(record_refresh_runs)
            .where(record_refresh_runs.c.finished_at.is_(None))
            .order_by(record_refresh_runs.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is not None:
        m = row._mapping
        if m["lease_owner"] != owner and m["lease_until"] > now:
            return None
        taken = await session.execute(
            update(record_refresh_runs)
            .where(
                record_refresh_runs.c.id == m["id"],
                record_refresh_runs.c.lease_owner == m["lease_owner"],
                record_refresh_runs.c.lease_until == m["lease_until"],
            )
            .values(lease_owner=owner, lease_until=now + lease)
        )
        if not getattr(taken, "rowcount", 0):
            return None
        return RefreshRun(int(m["id"]), m["started_at"], owner, dict(m["progress"]))
    run_id = (
        await session.execute(
            insert(record_refresh_runs)
            .values(
                started_at=now,
                finished_at=None,
                lease_until=now + lease,
                lease_owner=owner,
                progress={},
            )
            .returning(record_refresh_runs.c.id)
        )
    ).scalar_one()
    return RefreshRun(int(run_id), now, owner, {})


async def save_refresh_progress(
    session: AsyncSession,
    run: RefreshRun,
    kind: WatchKind,
    *,
    after: str | None,
    done: bool,
    lease_until: dt.datetime,
) -> bool:
    """Record that ``run`` has finished every record of ``kind`` up to ``after`` (or all).

    The kinds of a pass progress side by side: the row is read, locked and merged so that one
    kind's save never overwrites another's. ``False`` when the pass is no longer ``run.owner``'s.
    """
    run.progress[kind.value] = {"after": after, "done": done}
    stored = (
        await session.execute(
            select(record_refresh_runs.c.progress)
            .where(
                record_refresh_runs.c.id == run.id, record_refresh_runs.c.lease_owner == run.owner
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if stored is None:
        return False
    progress = {**dict(stored), kind.value: {"after": after, "done": done}}
    await session.execute(
        update(record_refresh_runs)
        .where(record_refresh_runs.c.id == run.id, record_refresh_runs.c.lease_owner == run.owner)
        .values(progress=progress, lease_until=lease_until)
    )
    return True


async def close_refresh_run(
    session: AsyncSession, run: RefreshRun, *, now: dt.datetime, finished: bool
) -> None:
    """Finish ``run`` (every kind done) or release its lease so a later refresh resumes it."""
    values: dict[str, Any] = {"lease_until": now}
    if finished:
        values["finished_at"] = now
    await session.execute(
        update(record_refresh_runs)
        .where(record_refresh_runs.c.id == run.id, record_refresh_runs.c.lease_owner == run.owner)
        .values(**values)
    )


async def last_refresh_finished(session: AsyncSession) -> dt.datetime | None:
    """When the last refresh pass finished (None before the first); the records' refresh lag."""
    finished: dt.datetime | None = (
        await session.execute(select(func.max(record_refresh_runs.c.finished_at)))
    ).scalar()
    return finished


__all__ = [
    "close_refresh_run",
    "last_refresh_finished",
    "open_refresh_run",
    "save_refresh_progress",
]
