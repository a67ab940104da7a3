"""message log: RFC 3161 anchors of the chain, and authenticated purge markers

Revision ID: 0006_log_anchors
Revises: 0005_sync_readback
Create Date: 2026-12-05

``message_log_anchors`` holds the time-stamps of the chain's head (``lienthong log anchor``, the
adapter's periodic anchoring). ``message_log`` gains ``purge_retention_days`` and ``purge_mac``:
the retention period a purge applied and its HMAC under the log's key. Records purged before this
revision have neither; ``log verify`` reports them as unauthenticated purges (a purge made before
the markers existed cannot be told from a faked one), so purge only after upgrading.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.types

revision: str = "0006_log_anchors"
down_revision: str | None = "0005_sync_readback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message_log") as batch:
        batch.add_column(sa.Column("purge_retention_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("purge_mac", sa.String(length=64), nullable=True))
    op.create_table(
        "message_log_anchors",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_digest", sa.String(length=64), nullable=False),
        sa.Column("previous_token_sha256", sa.String(length=64), nullable=False, unique=True),
        sa.Column("token_sha256", sa.String(length=64), nullable=False, unique=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("tsa_url", sa.String(length=512), nullable=False),
        sa.Column("gen_time", store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", store.types.UtcDateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_message_log_anchors_last_seq", "message_log_anchors", ["last_seq"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_message_log_anchors_last_seq", table_name="message_log_anchors")
    op.drop_table("message_log_anchors")
    with op.batch_alter_table("message_log") as batch:
        batch.drop_column("purge_mac")
        batch.drop_column("purge_retention_days")
