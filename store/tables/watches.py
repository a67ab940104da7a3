"""Tables of watched national records: the watch list, the last known versions, the change feed.

- ``record_watches``: who watches which citizen or business, and the purpose that allows it.
- ``record_snapshots``: the last known canonical version of each watched record (one row per
  record, whoever watches it), with its digest and a version counter bumped on every change.
- ``record_changes``: the change feed; ``position`` only grows. Each event is keyed by
  ``(kind, record_id, version)``: the snapshot's version it produced, so an interrupted refresh
  that is resumed cannot record the same change twice.
- ``record_refresh_runs``: one row per refresh pass, with its progress per kind, so a pass cut
  short by an outage resumes where it stopped.

Canonical JSON and diffs of citizens are personal data: they live here, never in logs.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint

from store.metadata import metadata
from store.types import BigIntPk, JsonDocument, UtcDateTime

record_watches = Table(
    "record_watches",
    metadata,
    Column("id", BigIntPk, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("record_id", String(32), nullable=False),
    Column("client", String(128), nullable=False),
    Column("purpose", String(64), nullable=False),
    # the official (VN + CCCD) who registered a citizen watch: named in its population lookups
    Column("official", String(16), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("kind", "record_id", "client", name="uq_record_watches_key"),
    Index("ix_record_watches_client", "client", "kind", "record_id"),
)

record_snapshots = Table(
    "record_snapshots",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("record_id", String(32), primary_key=True),
    Column("found", Boolean, nullable=False),
    # The last version seen while the record existed (kept when it goes missing, to diff against
    # when it reappears); NULL when it has never been found.
    Column("canonical", Text, nullable=True),
    Column("digest", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("fetched_at", UtcDateTime(), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=True),
)

record_changes = Table(
    "record_changes",
    metadata,
    Column("position", BigIntPk, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("record_id", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("change_type", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("diff", JsonDocument, nullable=False),
    Column("observed_at", UtcDateTime(), nullable=False),
    UniqueConstraint("kind", "record_id", "version", name="uq_record_changes_key"),
    Index("ix_record_changes_record", "kind", "record_id", "position"),
)

record_refresh_runs = Table(
    "record_refresh_runs",
    metadata,
    Column("id", BigIntPk, primary_key=True, autoincrement=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("lease_until", UtcDateTime(), nullable=False),
    Column("lease_owner", String(64), nullable=False),
    # {"citizen": {"after": "<record id>" | null, "done": bool}, "business": {...}}
    Column("progress", JsonDocument, nullable=False),
    Index("ix_record_refresh_runs_open", "finished_at", "id"),
)

__all__ = ["record_changes", "record_refresh_runs", "record_snapshots", "record_watches"]
