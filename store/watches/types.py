"""The values of watched records as the store reads and writes them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: one field-level difference (``{"field", "path", "op", "old", "new"}``, see ``watches.diff``)
DiffEntry = dict[str, Any]


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
    #: the purpose of the reading client's watch (citizens only; set by ``changes_since``)
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


__all__ = [
    "ChangeEvent",
    "ChangeType",
    "DiffEntry",
    "RefreshRun",
    "RefreshTarget",
    "Snapshot",
    "Watch",
    "WatchKind",
]
