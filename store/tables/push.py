"""Push: webhook subscriptions and their durable outbox, and notices to citizens.

``push_subscriptions`` — a client's subscription to the dossier changes of some sectors, sent to
one URL of its allow-list. ``push_deliveries`` — one row per (subscription, change), written in
the same transaction as the dossier change; its ``id`` is the delivery's cursor. ``push_heads`` —
one claimable row per (subscription, dossier) with undelivered items, pointing at the oldest, so a
dossier's later change never overtakes an earlier one for the same subscriber. ``available_at`` is
both the backoff and the lease (NULL: a dead letter blocks the pair until retried).

``push_contacts`` — the applicant's phone (normalised, ``84…``) and consent, per dossier;
``push_opt_outs`` — phones that asked for no more notices; ``push_notices`` — one row per event that
matters to an applicant, unique by ``tracking_id`` (exactly one notice per event).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from store.metadata import metadata
from store.types import BigIntPk, JsonDocument, UtcDateTime

push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("url", Text, nullable=False),
    Column("sectors", JsonDocument, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_push_subscriptions_client_id", "client_id"),
)

push_deliveries = Table(
    "push_deliveries",
    metadata,
    Column("id", BigIntPk, primary_key=True, autoincrement=True),
    Column("subscription_id", String(36), ForeignKey("push_subscriptions.id"), nullable=False),
    Column("dossier_code", String(64), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_attempt_at", UtcDateTime, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Index(
        "ix_push_deliveries_sub_dossier_state_id", "subscription_id", "dossier_code", "state", "id"
    ),
    Index("ix_push_deliveries_state_id", "state", "id"),
    Index("ix_push_deliveries_dossier_code", "dossier_code"),
)

push_heads = Table(
    "push_heads",
    metadata,
    Column("subscription_id", String(36), ForeignKey("push_subscriptions.id"), primary_key=True),
    Column("dossier_code", String(64), primary_key=True),
    Column("head_id", BigIntPk, nullable=False),
    Column("available_at", UtcDateTime, nullable=True),
    Column("claim_token", String(36), nullable=True),
    Index("ix_push_heads_available_at", "available_at"),
)

push_contacts = Table(
    "push_contacts",
    metadata,
    Column("dossier_code", String(64), ForeignKey("dossiers.code"), primary_key=True),
    Column("phone", String(16), nullable=False),
    Column("consent", Boolean, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)

push_opt_outs = Table(
    "push_opt_outs",
    metadata,
    Column("phone", String(16), primary_key=True),
    Column("opted_out_at", UtcDateTime, nullable=False),
)

push_notices = Table(
    "push_notices",
    metadata,
    Column("id", BigIntPk, primary_key=True, autoincrement=True),
    Column("tracking_id", String(64), nullable=False, unique=True),
    Column("dossier_code", String(64), nullable=False),
    Column("event", String(32), nullable=False),
    Column("sequence", Integer, nullable=True),
    Column("extra", JsonDocument, nullable=False),
    Column("state", String(16), nullable=False),
    Column("channel", String(8), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", UtcDateTime, nullable=True),
    Column("claim_token", String(36), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("provider_id", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_push_notices_state_available_at", "state", "available_at"),
    Index("ix_push_notices_dossier_code", "dossier_code"),
)

__all__ = [
    "push_contacts",
    "push_deliveries",
    "push_heads",
    "push_notices",
    "push_opt_outs",
    "push_subscriptions",
]
