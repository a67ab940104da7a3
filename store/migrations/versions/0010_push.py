"""Push: webhook subscriptions, their deliveries and heads; applicant contacts, opt-outs, notices.

Revision ID: 0010_push
Revises: 0008_chains
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_push"
down_revision: str | None = "0008_chains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("sectors", _JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        _time("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
    )
    op.create_index("ix_push_subscriptions_client_id", "push_subscriptions", ["client_id"])
    op.create_table(
        "push_deliveries",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("created_at", nullable=False),
        _time("last_attempt_at", nullable=True),
        _time("delivered_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["push_subscriptions.id"],
            name=op.f("fk_push_deliveries_subscription_id_push_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
    )
    op.create_index(
        "ix_push_deliveries_sub_dossier_state_id",
        "push_deliveries",
        ["subscription_id", "dossier_code", "state", "id"],
    )
    op.create_index("ix_push_deliveries_state_id", "push_deliveries", ["state", "id"])
    op.create_index("ix_push_deliveries_dossier_code", "push_deliveries", ["dossier_code"])
    op.create_table(
        "push_heads",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("head_id", _BIGINT_PK, nullable=False),
        _time("available_at", nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["push_subscriptions.id"],
            name=op.f("fk_push_heads_subscription_id_push_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("subscription_id", "dossier_code", name=op.f("pk_push_heads")),
    )
    op.create_index("ix_push_heads_available_at", "push_heads", ["available_at"])
    op.create_table(
        "push_contacts",
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        _time("recorded_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_code"], ["dossiers.code"], name=op.f("fk_push_contacts_dossier_code_dossiers")
        ),
        sa.PrimaryKeyConstraint("dossier_code", name=op.f("pk_push_contacts")),
    )
    op.create_table(
        "push_opt_outs",
        sa.Column("phone", sa.String(length=16), nullable=False),
        _time("opted_out_at", nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_push_opt_outs")),
    )
    op.create_table(
        "push_notices",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("tracking_id", sa.String(length=64), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("extra", _JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("available_at", nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        _time("created_at", nullable=False),
        _time("sent_at", nullable=True),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_notices")),
        sa.UniqueConstraint("tracking_id", name=op.f("uq_push_notices_tracking_id")),
    )
    op.create_index(
        "ix_push_notices_state_available_at", "push_notices", ["state", "available_at"]
    )
    op.create_index("ix_push_notices_dossier_code", "push_notices", ["dossier_code"])


def downgrade() -> None:
    op.drop_table("push_notices")
    op.drop_table("push_opt_outs")
    op.drop_table("push_contacts")
    op.drop_table("push_heads")
    op.drop_table("push_deliveries")
    op.drop_table("push_subscriptions")
