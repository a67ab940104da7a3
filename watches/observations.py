"""What a re-read of a watched record means: the same, a change (of which type), or first sight.

A refresh hands each re-read to :func:`apply_observation`, which compares it with the last known
version and, when they differ, advances the snapshot's version and records one change event
keyed by ``(kind, record_id, version)``. The snapshot advances only if its version is still the
one read (compare and set in ``store.watches.snapshots``), so two refreshers racing, or a refresh
resumed after an outage, never record one change twice. First sight is not a change: it only
stores the baseline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from store.watches.changes import append_change
from store.watches.snapshots import advance_snapshot, get_snapshot, insert_snapshot, touch_snapshot
from store.watches.types import ChangeEvent, ChangeType, DiffEntry, Snapshot, WatchKind
from watches.diff import canonical_json, diff_records, record_digest

#: the digest a snapshot carries while the national system does not know the record
NOT_FOUND_DIGEST = "not-found"


@dataclass(frozen=True, slots=True)
class Observation:
    """What the national system said about a record just now: its canonical form, or not found."""

    record: Mapping[str, Any] | None

    @property
    def found(self) -> bool:
        """Whether the national system knows the record."""
        return self.record is not None


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
        await insert_snapshot(
            session,
            kind,
            record_id,
            found=observation.found,
            canonical=canonical,
            digest=digest,
            fetched_at=observed_at,
        )
        return None
    if change_type is None:
        await touch_snapshot(session, previous, fetched_at=observed_at)
        return None
    version = await advance_snapshot(
        session,
        previous,
        found=observation.found,
        canonical=canonical,
        digest=digest,
        observed_at=observed_at,
    )
    if version is None:
        return None  # another refresher got there first and recorded this change
    return await append_change(
        session,
        kind,
        record_id,
        version=version,
        change_type=change_type,
        digest=digest,
        diff=diff,
        observed_at=observed_at,
    )


__all__ = ["NOT_FOUND_DIGEST", "Observation", "apply_observation", "classify_change"]
