"""Inter-agency chains: one row per chain dossier, one per step; the steps are their own queue.

``chain_dossiers`` holds what the one filing carried (``subject``), the chain's state, its
deadline and, once it stopped, at which step and why. The chain dossier is also a row of
``dossiers`` (the portal sees it and its progress through the dossier outbox).

``chain_steps`` holds each step: the agency system it goes to, the reference it is sent under
(unique: the agency reads it back by that reference), its state, what it produced, its deadline.
A step is also a delivery: ``available_at`` is when a worker may take it (its backoff, then its
lease while a worker holds it, NULL when nothing is to be done), ``claim_token`` the lease,
``attempts`` how many times a worker took it to the agency (a step taken before is read back
at the agency before it is sent again), ``failures`` the failed attempts since the last success
(its retry budget, with ``first_attempt_at``: failing since). Steps of one chain are taken one
after the other: a step becomes claimable only when the one before it is done.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from store.metadata import metadata
from store.types import BigIntPk, JsonDocument, UtcDateTime

chain_dossiers = Table(
    "chain_dossiers",
    metadata,
    Column("dossier_code", String(64), ForeignKey("dossiers.code"), primary_key=True),
    Column("chain_id", String(64), nullable=False),
    Column("subject", JsonDocument, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("verification", Boolean, nullable=False, default=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("stopped_step", String(32), nullable=True),
    Column("stopped_reason", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_chain_dossiers_state", "state"),
)

chain_steps = Table(
    "chain_steps",
    metadata,
    Column("id", BigIntPk, primary_key=True, autoincrement=True),
    Column("dossier_code", String(64), ForeignKey("chain_dossiers.dossier_code"), nullable=False),
    Column("position", SmallInteger, nullable=False),
    Column("name", String(32), nullable=False),
    Column("agency", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("sector", String(64), nullable=False),
    Column("reference", String(128), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("verification", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    Column("available_at", UtcDateTime, nullable=True),
    Column("claim_token", String(36), nullable=True),
    Column("claimed_by", String(128), nullable=True),
    Column("started_at", UtcDateTime, nullable=True),
    Column("first_attempt_at", UtcDateTime, nullable=True),
    Column("due_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("result", JsonDocument, nullable=True),
    Column("result_ref", String(128), nullable=True),
    Column("reason", Text, nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("dossier_code", "position"),
    Index("ix_chain_steps_available_at", "available_at"),
    Index("ix_chain_steps_state", "state"),
)

__all__ = ["chain_dossiers", "chain_steps"]
