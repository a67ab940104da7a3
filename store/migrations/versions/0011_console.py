"""the operator console: operators, server-side sessions, the audit trail

Revision ID: 0011_console
Revises: 0010_push
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.types import BigIntPk, UtcDateTime

revision: str = "0011_console"
down_revision: str | None = "0010_push"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_operators",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_login_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_sha256", sa.String(length=64), primary_key=True),
        sa.Column(
            "operator",
            sa.String(length=64),
            sa.ForeignKey("console_operators.name"),
            nullable=False,
        ),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_console_sessions_operator", "console_sessions", ["operator"])
    op.create_table(
        "console_audit",
        sa.Column("id", BigIntPk, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
    )
    op.create_index("ix_console_audit_occurred", "console_audit", ["occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_console_audit_occurred", table_name="console_audit")
    op.drop_table("console_audit")
    op.drop_index("ix_console_sessions_operator", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_operators")
