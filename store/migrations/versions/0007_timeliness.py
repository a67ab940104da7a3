"""Timeliness: the classification inputs in dossier columns, procedure deadlines, apologies

Revision ID: 0007_timeliness
Revises: 0003_access_log_key_id
Create Date: 2026-12-05

The dossiers already stored get their procedure, agency, receipt and due date copied from their
JSON document, so the report sees them; their pauses and resolution time are unknown (the
report counts them as open until their next change). The copy reads and writes rows in batches
of 1,000 through SQLAlchemy, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007_timeliness"
down_revision: str | None = "0003_access_log_key_id"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_INDEX_COLUMNS = [
    "received_at",
    "sector",
    "agency_code",
    "procedure_code",
    "status",
    "outcome",
    "due_at",
]


def _time(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("dossiers") as batch:
        batch.add_column(sa.Column("procedure_code", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("agency_code", sa.String(length=64), nullable=True))
        batch.add_column(_time("received_at"))
        batch.add_column(_time("due_at"))
        batch.add_column(_time("resolved_at"))
        batch.add_column(_time("paused_since"))
        batch.add_column(
            sa.Column("paused_working_days", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("outcome", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("due_warning", sa.String(length=255), nullable=True))
    op.create_index("ix_dossiers_timeliness", "dossiers", _INDEX_COLUMNS)
    op.create_index("ix_dossiers_outcome_due", "dossiers", ["outcome", "due_at"])
    op.create_table(
        "procedure_deadlines",
        sa.Column("procedure_code", sa.String(length=64), primary_key=True),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("sector_code", sa.String(length=64), nullable=True),
        _time("updated_at", nullable=False),
    )
    op.create_table(
        "apologies",
        sa.Column("id", _BIGINT_PK, primary_key=True, autoincrement=True),
        sa.Column(
            "dossier_code", sa.String(length=64), sa.ForeignKey("dossiers.code"), nullable=False
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        _time("original_due_at", nullable=False),
        _time("proposed_due_at", nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        _time("created_at", nullable=False),
        _time("confirmed_at"),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
    )
    op.create_index("ix_apologies_dossier", "apologies", ["dossier_code", "id"])
    op.create_index("ix_apologies_state", "apologies", ["state", "id"])
    _copy_from_documents()


def _utc(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        return None
    value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else value


def _copy_from_documents() -> None:
    bind = op.get_bind()
    dossiers = sa.table(
        "dossiers",
        sa.column("code", sa.String()),
        sa.column("payload", sa.JSON()),
        sa.column("procedure_code", sa.String()),
        sa.column("agency_code", sa.String()),
        sa.column("received_at", sa.DateTime(timezone=True)),
        sa.column("due_at", sa.DateTime(timezone=True)),
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(dossiers.c.code, dossiers.c.payload)
            .where(dossiers.c.code > after)
            .order_by(dossiers.c.code)
            .limit(1000)
        ).all()
        if not rows:
            return
        updates = []
        for code, payload in rows:
            document = json.loads(payload) if isinstance(payload, str) else payload
            updates.append(
                {
                    "b_code": code,
                    "b_procedure": document.get("procedure_code"),
                    "b_agency": document.get("agency_code"),
                    "b_received": _utc(document.get("received_at")),
                    "b_due": _utc(document.get("due_at")),
                }
            )
        bind.execute(
            dossiers.update()
            .where(dossiers.c.code == sa.bindparam("b_code"))
            .values(
                procedure_code=sa.bindparam("b_procedure"),
                agency_code=sa.bindparam("b_agency"),
                received_at=sa.bindparam("b_received"),
                due_at=sa.bindparam("b_due"),
            ),
            updates,
        )
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_apologies_state", table_name="apologies")
    op.drop_index("ix_apologies_dossier", table_name="apologies")
    op.drop_table("apologies")
    op.drop_table("procedure_deadlines")
    op.drop_index("ix_dossiers_outcome_due", table_name="dossiers")
    op.drop_index("ix_dossiers_timeliness", table_name="dossiers")
    with op.batch_alter_table("dossiers") as batch:
        for column in (
            "due_warning",
            "outcome",
            "paused_working_days",
            "paused_since",
            "resolved_at",
            "due_at",
            "received_at",
            "agency_code",
            "procedure_code",
        ):
            batch.drop_column(column)
