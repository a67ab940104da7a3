"""The operator console's accounts, sessions and audit trail.

``console_operators`` holds each person's role and Argon2id password hash (never the password),
with the count of failed logins since the last success and, while locked out, until when.
``console_sessions`` holds server-side sessions: only the SHA-256 of the session id the browser
keeps (a copy of the table opens no session), the CSRF token bound to it, how the operator was
authenticated (``password`` today; an OpenID Connect login would add its own method), and the
times that decide idle and absolute expiry. ``console_audit`` is the append-only trail of what
operators did and saw; ``target`` never holds personal data (a citizen is named by a keyed hash).
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from store.metadata import metadata
from store.types import BigIntPk, UtcDateTime

console_operators = Table(
    "console_operators",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_login_at", UtcDateTime(), nullable=True),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("operator", String(64), ForeignKey("console_operators.name"), nullable=False),
    Column("method", String(16), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
)

console_audit = Table(
    "console_audit",
    metadata,
    Column("id", BigIntPk, primary_key=True, autoincrement=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("operator", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=True),
    Column("outcome", String(32), nullable=False),
)

Index("ix_console_sessions_operator", console_sessions.c.operator)
Index("ix_console_audit_occurred", console_audit.c.occurred_at)

__all__ = ["console_audit", "console_operators", "console_sessions"]
