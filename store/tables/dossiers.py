"""Dossiers, their events, and the counter that orders the ministries' feed.

``dossiers.change_seq`` is the dossier's position in the feed: every write takes the next value of
the ``counters`` row ``dossier_feed`` as the last step of its transaction. The counter row stays
locked until commit, so positions become visible in increasing order and a reader paging by
``change_seq`` can never skip a row that commits late. (It is NULL only inside the transaction that
creates the dossier: writers lock the dossier row first and the counter last, never the other way.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    event,
)

from store.metadata import metadata
from store.types import BigIntPk, JsonDocument, UtcDateTime

#: The ``counters`` row that numbers dossier writes for the feed.
FEED_COUNTER = "dossier_feed"

dossiers = Table(
    "dossiers",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("sector", String(64), nullable=True),
    Column("status", SmallInteger, nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Column("last_sequence", Integer, nullable=False, default=0),
    Column("on_portal", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("change_seq", BigInteger, nullable=True),
    # timeliness: the inputs of the early / on time / late classes, in columns so that the
    # report is one aggregate query (``store.deadline_rules`` explains each)
    Column("procedure_code", String(64), nullable=True),
    Column("agency_code", String(64), nullable=True),
    Column("received_at", UtcDateTime, nullable=True),
    Column("due_at", UtcDateTime, nullable=True),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("paused_since", UtcDateTime, nullable=True),
    Column("paused_working_days", Integer, nullable=False, default=0, server_default="0"),
    Column("outcome", SmallInteger, nullable=True),
    Column("due_warning", String(255), nullable=True),
    UniqueConstraint("change_seq"),
    Index("ix_dossiers_sector_change_seq", "sector", "change_seq"),
    Index("ix_dossiers_updated_at", "updated_at"),
    # the timeliness report: a range of received_at, read from the index alone
    Index(
        "ix_dossiers_timeliness",
        "received_at",
        "sector",
        "agency_code",
        "procedure_code",
        "status",
        "outcome",
        "due_at",
    ),
    # open dossiers by due date (outcome is NULL until resolved): the apologies' scan
    Index("ix_dossiers_outcome_due", "outcome", "due_at"),
)

#: procedure code -> its processing time in working days (the portal catalogue's
#: ``ThoiHanGiaiQuyet``), which due dates are computed from
procedure_deadlines = Table(
    "procedure_deadlines",
    metadata,
    Column("procedure_code", String(64), primary_key=True),
    Column("working_days", Integer, nullable=False),
    Column("name", String(512), nullable=True),
    Column("sector_code", String(64), nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

#: the apology (*phiếu xin lỗi và hẹn lại ngày trả kết quả*) drafted when a dossier runs late
apologies = Table(
    "apologies",
    metadata,
    Column("id", BigIntPk, primary_key=True, autoincrement=True),
    Column("dossier_code", String(64), ForeignKey("dossiers.code"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("original_due_at", UtcDateTime, nullable=False),
    Column("proposed_due_at", UtcDateTime, nullable=False),
    Column("reason", String(1000), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("confirmed_at", UtcDateTime, nullable=True),
    Column("confirmed_by", String(64), nullable=True),
    Index("ix_apologies_dossier", "dossier_code", "id"),
    Index("ix_apologies_state", "state", "id"),
)

dossier_events = Table(
    "dossier_events",
    metadata,
    Column("id", BigIntPk, primary_key=True, autoincrement=True),
    Column("dossier_code", String(64), ForeignKey("dossiers.code"), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("previous_status", SmallInteger, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("payload", JsonDocument, nullable=False),
    UniqueConstraint("dossier_code", "sequence"),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)


@event.listens_for(counters, "after_create")
def _seed_counters(target: Table, connection: Connection, **_: Any) -> None:
    """``create_all`` seeds the feed counter too (the migration does the same)."""
    connection.execute(target.insert().values(name=FEED_COUNTER, value=0))


__all__ = [
    "FEED_COUNTER",
    "apologies",
    "counters",
    "dossier_events",
    "dossiers",
    "procedure_deadlines",
]
