"""purpose binding: when a dossier closed and its last event; refused lookups in the access log

Revision ID: 0004_related_persons
Revises: 0003_access_log_key_id
Create Date: 2026-12-05

A citizen lookup must serve a dossier that is open (or closed within a grace period) and that
names the citizen, as applicant or among its related persons. The related persons live in the
dossier's JSON payload with the rest of the dossier (``Dossier.related_persons``; stored
payloads without them read as an empty list), so they need no column; what the store adds:

- ``dossiers.closed_at``: when the store recorded the dossier's move to a terminal status
  (NULL while open). Dossiers already terminal get their last change time, the best the rows
  know.
- ``dossiers.last_event_at``: the time of the dossier's newest event, so that an event older
  than the one before it is refused without reading the history. Filled from the events.
- ``access_log.outcome``: ``answered`` (every row so far) or ``refused`` (a lookup whose purpose
  did not hold, logged without an upstream call).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_related_persons"
down_revision: str | None = "0003_access_log_key_id"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TERMINAL = (3, 7, 8, 10)


def upgrade() -> None:
    with op.batch_alter_table("dossiers") as batch:
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("access_log") as batch:
        batch.add_column(
            sa.Column("outcome", sa.String(length=16), nullable=False, server_default="answered")
        )
    terminal = ", ".join(str(status) for status in _TERMINAL)
    op.execute(f"UPDATE dossiers SET closed_at = updated_at WHERE status IN ({terminal})")
    op.execute(
        "UPDATE dossiers SET last_event_at = (SELECT max(e.occurred_at) FROM dossier_events e "
        "WHERE e.dossier_code = dossiers.code)"
    )


def downgrade() -> None:
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("outcome")
    with op.batch_alter_table("dossiers") as batch:
        batch.drop_column("last_event_at")
        batch.drop_column("closed_at")
