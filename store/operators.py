"""The operator console's accounts, sessions and audit trail, as rows (``store.tables.operators``).

Each function takes an ``AsyncSession`` and leaves the transaction to its caller. Nothing here
hashes or checks a password, or decides a policy (lockout, expiry): ``console`` does, and hands
this module the results to keep.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import ConstraintViolation
from store.tables.operators import console_audit, console_operators, console_sessions


@dataclass(frozen=True, slots=True)
class OperatorRow:
    """One operator account as stored."""

    name: str
    role: str
    password_hash: str | None
    failed_logins: int
    locked_until: dt.datetime | None
    created_at: dt.datetime
    last_login_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One console session as stored (the id itself is never stored, only its SHA-256)."""

    id_sha256: str
    operator: str
    role: str
    method: str
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One entry of the audit trail."""

    id: int
    occurred_at: dt.datetime
    operator: str
    action: str
    target: str | None
    outcome: str


async def add_operator(
    session: AsyncSession, name: str, role: str, password_hash: str, now: dt.datetime
) -> bool:
    """Store a new operator; False when the name is taken."""
    try:
        async with session.begin_nested():
            await session.execute(
                console_operators.insert().values(
                    name=name,
                    role=role,
                    password_hash=password_hash,
                    failed_logins=0,
                    created_at=now,
                )
            )
    except ConstraintViolation:
        return False
    return True


async def set_password(session: AsyncSession, name: str, password_hash: str) -> bool:
    """Replace an operator's password hash and clear any lockout; False when unknown."""
    result = await session.execute(
        update(console_operators)
        .where(console_operators.c.name == name)
        .values(password_hash=password_hash, failed_logins=0, locked_until=None)
        .returning(console_operators.c.name)
    )
    return result.first() is not None


async def get_operator(session: AsyncSession, name: str) -> OperatorRow | None:
    """The operator called ``name``, or None."""
    row = (
        await session.execute(select(console_operators).where(console_operators.c.name == name))
    ).one_or_none()
    return None if row is None else OperatorRow(**row._mapping)


async def list_operators(session: AsyncSession) -> list[OperatorRow]:
    """Every operator, by name."""
    rows = await session.execute(select(console_operators).order_by(console_operators.c.name))
    return [OperatorRow(**row._mapping) for row in rows]


async def record_failed_login(session: AsyncSession, name: str) -> int:
    """Count one more failed login of ``name``; the new count (0 for an unknown name)."""
    result = await session.execute(
        update(console_operators)
        .where(console_operators.c.name == name)
        .values(failed_logins=console_operators.c.failed_logins + 1)
        .returning(console_operators.c.failed_logins)
    )
    count = result.scalar_one_or_none()
    return int(count or 0)


async def lock(session: AsyncSession, name: str, until: dt.datetime) -> None:
    """Lock ``name`` out until ``until``."""
    await session.execute(
        update(console_operators).where(console_operators.c.name == name).values(locked_until=until)
    )


async def record_login(session: AsyncSession, name: str, now: dt.datetime) -> None:
    """A successful login: the failure count and any lockout are cleared."""
    await session.execute(
        update(console_operators)
        .where(console_operators.c.name == name)
        .values(failed_logins=0, locked_until=None, last_login_at=now)
    )


async def unlock(session: AsyncSession, name: str) -> bool:
    """Clear ``name``'s lockout and failure count; False when unknown."""
    result = await session.execute(
        update(console_operators)
        .where(console_operators.c.name == name)
        .values(failed_logins=0, locked_until=None)
        .returning(console_operators.c.name)
    )
    return result.first() is not None


async def create_session(
    session: AsyncSession,
    *,
    id_sha256: str,
    operator: str,
    method: str,
    csrf_token: str,
    now: dt.datetime,
) -> None:
    """Store a new console session."""
    await session.execute(
        console_sessions.insert().values(
            id_sha256=id_sha256,
            operator=operator,
            method=method,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
        )
    )


async def get_session(session: AsyncSession, id_sha256: str) -> SessionRow | None:
    """The session with that id hash, with its operator's current role; None when absent."""
    row = (
        await session.execute(
            select(
                console_sessions,
                console_operators.c.role,
            )
            .join(console_operators, console_operators.c.name == console_sessions.c.operator)
            .where(console_sessions.c.id_sha256 == id_sha256)
        )
    ).one_or_none()
    return None if row is None else SessionRow(**row._mapping)


async def touch_session(session: AsyncSession, id_sha256: str, now: dt.datetime) -> None:
    """Record activity on a session (it is idle from ``now`` on)."""
    await session.execute(
        update(console_sessions)
        .where(console_sessions.c.id_sha256 == id_sha256)
        .values(last_seen_at=now)
    )


async def drop_session(session: AsyncSession, id_sha256: str) -> None:
    """End one session."""
    await session.execute(delete(console_sessions).where(console_sessions.c.id_sha256 == id_sha256))


async def drop_idle_sessions(session: AsyncSession, seen_before: dt.datetime) -> int:
    """End every session idle since before ``seen_before``; how many."""
    result = await session.execute(
        delete(console_sessions)
        .where(console_sessions.c.last_seen_at < seen_before)
        .returning(console_sessions.c.id_sha256)
    )
    return len(result.all())


async def append_audit(
    session: AsyncSession,
    *,
    operator: str,
    action: str,
    target: str | None,
    outcome: str,
    now: dt.datetime,
) -> None:
    """Append one entry to the audit trail."""
    await session.execute(
        console_audit.insert().values(
            occurred_at=now, operator=operator, action=action, target=target, outcome=outcome
        )
    )


async def recent_audit(
    session: AsyncSession, *, limit: int = 100, action: str | None = None
) -> list[AuditRow]:
    """The newest ``limit`` audit entries, newest first (only those of ``action`` if given)."""
    query = select(console_audit).order_by(console_audit.c.id.desc()).limit(limit)
    if action is not None:
        query = query.where(console_audit.c.action == action)
    return [AuditRow(**row._mapping) for row in await session.execute(query)]


async def count_audit(session: AsyncSession) -> int:
    """How many entries the audit trail holds."""
    return int(await session.scalar(select(func.count()).select_from(console_audit)) or 0)


__all__ = [
    "AuditRow",
    "OperatorRow",
    "SessionRow",
    "add_operator",
    "append_audit",
    "count_audit",
    "create_session",
    "drop_idle_sessions",
    "drop_session",
    "get_operator",
    "get_session",
    "list_operators",
    "lock",
    "recent_audit",
    "record_failed_login",
    "record_login",
    "set_password",
    "touch_session",
    "unlock",
]
