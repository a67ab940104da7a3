"""access_log.key_id: the id of the key that made each row's citizen_key (key rotation)

Revision ID: 0003_access_log_key_id
Revises: 0002_logs_records
Create Date: 2026-11-28

The rows already stored keep ``key_id`` NULL. Stamping them with the id of the current key file
would need the key folder, which a migration is not given (``lienthong db upgrade`` may run where
the adapter's keys are not, or find another folder's key); a wrong id would hide those rows for
good, since a search matches a row only under the key its id names. NULL means "the key in use
before the first rotation": ``store.access_log_keys`` records that key's id on the first
rotation (``adapter/accesslog.retired/legacy.id``) and searches NULL rows under it alone.

Downgrading drops the column and the ids with it: only before the first rotation, otherwise the
rows made under keys other than the legacy one can no longer be found.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_access_log_key_id"
down_revision: str | None = "0002_logs_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_log") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("key_id")
