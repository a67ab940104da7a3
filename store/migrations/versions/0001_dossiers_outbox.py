"""Dossiers, their events, the feed counter, the outbox and its per-dossier heads.

Revision ID: 0001_dossiers_outbox
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_dossiers_outbox"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    op.bulk_insert(counters, [{"name": "dossier_feed", "value": 0}])
    op.create_table(
        "dossiers",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("sector", sa.String(length=64), nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.Column("on_portal", sa.Boolean(), nullable=False),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_dossiers")),
        sa.UniqueConstraint("change_seq", name=op.f("uq_dossiers_change_seq")),
    )
    op.create_index("ix_dossiers_sector_change_seq", "dossiers", ["sector", "change_seq"])
    op.create_index("ix_dossiers_updated_at", "dossiers", ["updated_at"])
    op.create_table(
        "dossier_events",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("previous_status", sa.SmallInteger(), nullable=False),
        _time("occurred_at", nullable=False),
        _time("recorded_at", nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_code"],
            ["dossiers.code"],
            name=op.f("fk_dossier_events_dossier_code_dossiers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_events")),
        sa.UniqueConstraint(
            "dossier_code", "sequence", name=op.f("uq_dossier_events_dossier_code")
        ),
    )
    op.create_table(
        "outbox",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("created_at", nullable=False),
        _time("first_attempt_at", nullable=True),
        _time("last_attempt_at", nullable=True),
        _time("delivered_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_code"], ["dossiers.code"], name=op.f("fk_outbox_dossier_code_dossiers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_dossier_state_id", "outbox", ["dossier_code", "state", "id"])
    op.create_index("ix_outbox_state_id", "outbox", ["state", "id"])
    op.create_table(
        "outbox_heads",
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("head_id", _BIGINT_PK, nullable=False),
        _time("available_at", nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_code"],
            ["dossiers.code"],
            name=op.f("fk_outbox_heads_dossier_code_dossiers"),
        ),
        sa.ForeignKeyConstraint(
            ["head_id"], ["outbox.id"], name=op.f("fk_outbox_heads_head_id_outbox")
        ),
        sa.PrimaryKeyConstraint("dossier_code", name=op.f("pk_outbox_heads")),
    )
    op.create_index("ix_outbox_heads_available_at", "outbox_heads", ["available_at"])


def downgrade() -> None:
    op.drop_table("outbox_heads")
    op.drop_table("outbox")
    op.drop_table("dossier_events")
    op.drop_table("dossiers")
    op.drop_table("counters")
