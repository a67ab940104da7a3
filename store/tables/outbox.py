"""The transactional outbox: deliveries to the portal, and one claimable head per dossier.

``outbox`` holds every delivery (``sync_dossier`` or ``push_progress``), written in the same
transaction as the dossier change it carries. ``outbox_heads`` holds one row per dossier that has
undelivered items, pointing at its oldest one; workers claim heads, never items, so a later step of
a dossier can never overtake an earlier one, and the claim reads ``available_at`` through its index
only (O(batch), whatever the size of ``outbox``).

``available_at`` is both the backoff and the lease: a claimed head is pushed to the end of its
lease, a failed one to its next attempt, a dead one to NULL (never claimed until retried).
``in_doubt`` says the portal may hold more of the dossier than ``outbox`` records as delivered
(an unclear outcome, a claim taken over from a worker that never settled, an operator's check):
the worker reads back from the portal before it sends anything of that dossier.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, false

from store.metadata import metadata
from store.types import BigIntPk, JsonDocument, UtcDateTime

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigIntPk, primary_key=True, autoincrement=True),
    Column("dossier_code", String(64), ForeignKey("dossiers.code"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("first_attempt_at", UtcDateTime, nullable=True),
    Column("last_attempt_at", UtcDateTime, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_outbox_dossier_state_id", "dossier_code", "state", "id"),
    Index("ix_outbox_state_id", "state", "id"),
)

outbox_heads = Table(
    "outbox_heads",
    metadata,
    Column("dossier_code", String(64), ForeignKey("dossiers.code"), primary_key=True),
    Column("head_id", BigIntPk, ForeignKey("outbox.id"), nullable=False),
    Column("available_at", UtcDateTime, nullable=True),
    Column("claim_token", String(36), nullable=True),
    Column("claimed_by", String(128), nullable=True),
    Column("in_doubt", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_outbox_heads_available_at", "available_at"),
)

__all__ = ["outbox", "outbox_heads"]
