"""Watched national records: the watch list, last known versions, change events and the feed.

Every function takes an ``AsyncSession`` and leaves the commit to its caller, so that what must
happen together (a snapshot and the change event it produces; a whole bulk import) is one
transaction.

A refresh hands each re-read to :func:`apply_observation`, which compares it with the last known
version and, when they differ, bumps the snapshot's version and records one change event keyed by
``(kind, record_id, version)``. The snapshot is updated only if its version is still the one read
(compare and set), so two refreshers racing, or a refresh resumed after an outage, never record
one change twice. First sight is not a change: it only stores the baseline.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import RowMapping, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.cursors import CHANGE_CURSOR
from store.record_diff import DiffEntry, canonical_json, diff_records, record_digest
from store.tables.records import (
    record_changes,
    record_refresh_runs,
    record_snapshots,
    record_watches,
)

#: the digest a snapshot carries while the national system does not know the record
NOT_FOUND_DIGEST = "not-found"


class WatchKind(StrEnum):
    """What is watched: a citizen (by CCCD) or a business (by tax code)."""

    CITIZEN = "citizen"
    BUSINESS = "business"


class ChangeType(StrEnum):
    """Why a change event was recorded."""

    CHANGED = "changed"
    NOT_FOUND = "not_found"
    STATUS_CHANGED = "status_changed"
    REAPPEARED = "reappeared"


@dataclass(frozen=True, slots=True)
class Watch:
    """One client watching one record, with the purpose that allows it.

    ``official`` (``VN`` + CCCD) is who registered a citizen watch: the population lookups made
    to refresh it name that official and, as the X-Road ``issue``, the purpose.
    """

    kind: WatchKind
    record_id: str
    client: str
    purpose: str
    official: str | None = None
    created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What the national system said about a record just now: its canonical form, or not found."""

    record: Mapping[str, Any] | None

    @property
    def found(self) -> bool:
        """Whether the national system knows the record."""
        return self.record is not None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The last known version of a record (``canonical`` is the last version seen while found)."""

    kind: WatchKind
    record_id: str
    found: bool
    canonical: Mapping[str, Any] | None
    digest: str
    version: int
    fetched_at: dt.datetime
    changed_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One change of a watched record, at its position in the feed."""

    position: int
    kind: WatchKind
    record_id: str
    version: int
    change_type: ChangeType
    diff: Sequence[DiffEntry]
    observed_at: dt.datetime
    #: the purpose of the reading client's watch (citizens only; set by :func:`changes_since`)
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshTarget:
    """A watched record to re-read, with the watch (client, purpose, official) it is read for."""

    kind: WatchKind
    record_id: str
    client: str
    purpose: str
    official: str | None = None


@dataclass(slots=True)
class RefreshRun:
    """One refresh pass: per kind, the last record id done and whether the kind is finished."""

    id: int
    started_at: dt.datetime
    owner: str
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)

    def after(self, kind: WatchKind) -> str | None:
        """The last record id of ``kind`` this pass has finished (``None`` before the first)."""
        value = self.progress.get(kind.value, {}).get("after")
        return str(value) if value is not None else None

    def done(self, kind: WatchKind) -> bool:
        """Whether this pass has re-read every record of ``kind``."""
        return bool(self.progress.get(kind.value, {}).get("done", False))


# --- the watch list -------------------------------------------------------------------------


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


# --- snapshots and change events ------------------------------------------------------------


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


def classify_change(
    kind: WatchKind, previous: Snapshot | None, observation: Observation
) -> tuple[ChangeType | None, list[DiffEntry]]:
    """Whether ``observation`` is a change from ``previous``, of which type, with which diff.

    First sight (no previous snapshot) is never a change. A record the national system no longer
    knows is ``not_found`` (empty diff); one known again is ``reappeared`` (diffed against the
    last version seen). A business whose ``status`` field changed is ``status_changed``.
    """
    if previous is None:
        return None, []
    if observation.record is None:
        return (ChangeType.NOT_FOUND, []) if previous.found else (None, [])
    if not previous.found:
        return ChangeType.REAPPEARED, diff_records(previous.canonical or {}, observation.record)
    if record_digest(observation.record) == previous.digest:
        return None, []
    diff = diff_records(previous.canonical or {}, observation.record)
    if not diff:
        return None, []
    if kind is WatchKind.BUSINESS and any(entry["field"] == "status" for entry in diff):
        return ChangeType.STATUS_CHANGED, diff
    return ChangeType.CHANGED, diff


async def apply_observation(
    session: AsyncSession,
    kind: WatchKind,
    record_id: str,
    observation: Observation,
    *,
    observed_at: dt.datetime,
) -> ChangeEvent | None:
    """Store ``observation`` as the record's last known version; the change event, if any.

    Idempotent: applying the same observation again changes nothing and records no event. When
    another refresher updated the snapshot in between, this one records nothing.
    """
    previous = await get_snapshot(session, kind, record_id)
    change_type, diff = classify_change(kind, previous, observation)
    digest = record_digest(observation.record) if observation.record else NOT_FOUND_DIGEST
    canonical = (
        canonical_json(observation.record)
        if observation.record is not None
        else (canonical_json(previous.canonical) if previous and previous.canonical else None)
    )
    if previous is None:
        await session.execute(
            insert(record_snapshots).values(
                kind=kind.value,
                record_id=record_id,
                found=observation.found,
                canonical=canonical,
                digest=digest,
                version=1,
                fetched_at=observed_at,
                changed_at=None,
            )
        )
        return None
    key = and_(
        record_snapshots.c.kind == kind.value,
        record_snapshots.c.record_id == record_id,
        record_snapshots.c.version == previous.version,
    )
    if change_type is None:
        await session.execute(update(record_snapshots).where(key).values(fetched_at=observed_at))
        return None
    version = previous.version + 1
    result = await session.execute(
        update(record_snapshots)
        .where(key)
        .values(
            found=observation.found,
            canonical=canonical,
            digest=digest,
            version=version,
            fetched_at=observed_at,
            changed_at=observed_at,
        )
    )
    if not getattr(result, "rowcount", 0):
        return None  # another refresher got there first and recorded this change
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
                diff=diff,
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


def encode_change_cursor(position: int) -> str:
    """The opaque cursor of the change feed just after ``position``."""
    return CHANGE_CURSOR.encode(position)


def decode_change_cursor(cursor: str) -> int:
    """The position a change-feed cursor names; ``InvalidCursor`` when it was not issued here."""
    return CHANGE_CURSOR.decode(cursor)


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


# --- refresh runs ---------------------------------------------------------------------------


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


#: the PostgreSQL advisory lock key serialising writers of the change feed ("lienthon" in ASCII)
_FEED_LOCK_KEY = 0x6C69656E74686F6E


async def _lock_feed(session: AsyncSession) -> None:
    """Hold the change feed's write lock until commit, so positions become visible in order.

    A reader paging by position must never see position N+1 committed before N. SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers; PostgreSQL takes a transaction advisory lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_FEED_LOCK_KEY)))


# --- rows to values -------------------------------------------------------------------------


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


async def last_refresh_finished(session: AsyncSession) -> dt.datetime | None:
    """When the last refresh pass finished (None before the first); the records' refresh lag."""
    finished: dt.datetime | None = (
        await session.execute(select(func.max(record_refresh_runs.c.finished_at)))
    ).scalar()
    return finished


__all__ = [
    "NOT_FOUND_DIGEST",
    "ChangeEvent",
    "ChangeType",
    "Observation",
    "RefreshRun",
    "RefreshTarget",
    "Snapshot",
    "Watch",
    "WatchKind",
    "apply_observation",
    "changes_since",
    "classify_change",
    "close_refresh_run",
    "count_changes",
    "count_watched_records",
    "decode_change_cursor",
    "delete_watch",
    "encode_change_cursor",
    "get_snapshot",
    "get_watch",
    "last_refresh_finished",
    "list_watches",
    "open_refresh_run",
    "put_watch",
    "refresh_targets",
    "save_refresh_progress",
]
