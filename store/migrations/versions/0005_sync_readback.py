"""outbox_heads.in_doubt: the portal may hold more of this dossier than the outbox says

Revision ID: 0005_sync_readback
Revises: 0004_related_persons
Create Date: 2026-12-05

The portal applies a progress record every time it arrives, so a worker must not resend one it
may already have delivered. A head is *in doubt* when a delivery of its dossier ended without a
clear answer (a timeout, a lost answer, a connection reset after sending, a worker killed before
it settled) or when an operator asked for the dossier to be checked (``sync retry``,
``sync reconcile``); the next worker to claim it reads back what the portal holds before it sends.
Existing heads start clear: nothing before this revision could mark them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_sync_readback"
down_revision: str | None = "0004_related_persons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_heads") as batch:
        batch.add_column(
            sa.Column("in_doubt", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_heads") as batch:
        batch.drop_column("in_doubt")
