"""Operator accounts, sessions and the audit trail on the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from console.accounts import Accounts, LockoutPolicy, password_hasher
from console.audit import AuditTrail
from console.errors import LockedOut, LoginRefused, OperatorError
from console.roles import ConsoleRole
from console.sessions import SessionManager, SessionPolicy
from store.db import create_sessionmaker
from store.tables.operators import console_operators, console_sessions

PASSWORD = "correct horse battery"
#: a cheap Argon2id for tests (the production default is 64 MiB, three passes)
FAST = password_hasher(memory_kib=1024, passes=1)


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 5, 2, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def _name() -> str:
    return f"op-{uuid.uuid4().hex[:10]}"


def _accounts(engine: AsyncEngine, clock: Callable[[], dt.datetime], after: int = 3) -> Accounts:
    return Accounts(
        create_sessionmaker(engine),
        hasher=FAST,
        lockout=LockoutPolicy(after=after, duration=dt.timedelta(minutes=15)),
        clock=clock,
    )


async def test_password_is_stored_as_an_argon2id_hash_and_checked(engine: AsyncEngine) -> None:
    """The stored hash is Argon2id, not the password; the right password opens, a wrong one not."""
    accounts = _accounts(engine, Clock())
    name = _name()
    await accounts.add(name, "operator", PASSWORD)
    async with engine.connect() as connection:
        stored = await connection.scalar(
            select(console_operators.c.password_hash).where(console_operators.c.name == name)
        )
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    identity = await accounts.authenticate(name, PASSWORD)
    assert (identity.name, identity.role, identity.method) == (
        name,
        ConsoleRole.OPERATOR,
        "password",
    )
    with pytest.raises(LoginRefused):
        await accounts.authenticate(name, PASSWORD + "!")


async def test_unknown_name_and_wrong_password_get_the_same_refusal(engine: AsyncEngine) -> None:
    """A stranger learns nothing about which names exist."""
    accounts = _accounts(engine, Clock())
    name = _name()
    await accounts.add(name, "viewer", PASSWORD)
    with pytest.raises(LoginRefused) as unknown:
        await accounts.authenticate(_name(), PASSWORD)
    with pytest.raises(LoginRefused) as wrong:
        await accounts.authenticate(name, "not the password")
    assert str(unknown.value) == str(wrong.value)


async def test_lockout_after_repeated_failures_then_expiry_and_unlock(engine: AsyncEngine) -> None:
    """Three failures lock the account (even for the right password) until the lockout ends."""
    clock = Clock()
    accounts = _accounts(engine, clock, after=3)
    name = _name()
    await accounts.add(name, "operator", PASSWORD)
    for _ in range(2):
        with pytest.raises(LoginRefused):
            await accounts.authenticate(name, "wrong password!")
    with pytest.raises(LockedOut) as locked:
        await accounts.authenticate(name, "wrong password!")
    assert locked.value.until == clock.now + dt.timedelta(minutes=15)
    with pytest.raises(LockedOut):
        await accounts.authenticate(name, PASSWORD)
    clock.now += dt.timedelta(minutes=16)
    assert (await accounts.authenticate(name, PASSWORD)).name == name
    for _ in range(3):
        with pytest.raises((LoginRefused, LockedOut)):
            await accounts.authenticate(name, "wrong password!")
    await accounts.unlock(name)
    assert (await accounts.authenticate(name, PASSWORD)).name == name


@pytest.mark.parametrize(
    ("name", "role", "password", "problem"),
    [
        ("x", "viewer", PASSWORD, "name"),
        ("bad name", "viewer", PASSWORD, "name"),
        ("alice-ok", "root", PASSWORD, "role"),
        ("alice-ok", "viewer", "short", "password"),
    ],
)
async def test_bad_names_roles_and_passwords_are_refused(
    engine: AsyncEngine, name: str, role: str, password: str, problem: str
) -> None:
    """Each rule on a new account is enforced with a readable reason."""
    with pytest.raises(OperatorError, match=problem):
        await _accounts(engine, Clock()).add(name, role, password)


async def test_a_name_cannot_be_taken_twice(engine: AsyncEngine) -> None:
    """Adding an existing operator is refused and leaves the first account as it was."""
    accounts = _accounts(engine, Clock())
    name = _name()
    await accounts.add(name, "auditor", PASSWORD)
    with pytest.raises(OperatorError, match="exists"):
        await accounts.add(name, "operator", "another long password")
    assert (await accounts.authenticate(name, PASSWORD)).role is ConsoleRole.AUDITOR


async def test_sessions_end_when_idle_or_too_old_and_only_the_hash_is_stored(
    engine: AsyncEngine,
) -> None:
    """A session lives while used, ends after the idle time or the absolute limit; the store
    keeps the SHA-256 of its id, never the id the browser holds."""
    clock = Clock()
    accounts = _accounts(engine, clock)
    name = _name()
    await accounts.add(name, "viewer", PASSWORD)
    identity = await accounts.authenticate(name, PASSWORD)
    manager = SessionManager(
        create_sessionmaker(engine),
        policy=SessionPolicy(idle=dt.timedelta(minutes=15), absolute=dt.timedelta(hours=1)),
        clock=clock,
    )
    session_id, live = await manager.open(identity)
    async with engine.connect() as connection:
        stored = (await connection.execute(select(console_sessions.c.id_sha256))).scalars().all()
    assert session_id not in stored
    assert live.id_sha256 in stored
    for _ in range(5):  # used every 14 minutes: alive until the absolute limit
        clock.now += dt.timedelta(minutes=14)
        resolved = await manager.resolve(session_id)
        if clock.now - dt.datetime(2026, 12, 5, 2, 0, tzinfo=dt.UTC) > dt.timedelta(hours=1):
            assert resolved is None
            break
        assert resolved is not None
        assert resolved.operator == name
    else:
        raise AssertionError("the absolute limit never ended the session")
    second_id, _ = await manager.open(identity)
    clock.now += dt.timedelta(minutes=16)
    assert await manager.resolve(second_id) is None
    assert await manager.resolve("not-a-session") is None


async def test_csrf_token_is_bound_to_its_session(engine: AsyncEngine) -> None:
    """Each session has its own token; another session's token does not match."""
    clock = Clock()
    accounts = _accounts(engine, clock)
    name = _name()
    await accounts.add(name, "operator", PASSWORD)
    manager = SessionManager(create_sessionmaker(engine), clock=clock)
    identity = await accounts.authenticate(name, PASSWORD)
    _, first = await manager.open(identity)
    _, second = await manager.open(identity)
    assert first.csrf_matches(first.csrf_token)
    assert not first.csrf_matches(second.csrf_token)
    assert not first.csrf_matches(None)
    assert not first.csrf_matches("")


async def test_audit_trail_keeps_actions_newest_first(engine: AsyncEngine) -> None:
    """Entries come back newest first; ``latest`` finds the newest of one action."""
    ticks = itertools.count()
    base = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    audit = AuditTrail(
        create_sessionmaker(engine), clock=lambda: base + dt.timedelta(seconds=next(ticks))
    )
    who = _name()
    await audit.record(who, "message_log.verify", target="OK: 1 records", outcome="intact")
    await audit.record(who, "dead_letter.retry", target="7")
    await audit.record(who, "message_log.verify", target="BROKEN", outcome="broken")
    mine = [e for e in await audit.recent(50) if e.operator == who]
    assert [e.action for e in mine] == [
        "message_log.verify",
        "dead_letter.retry",
        "message_log.verify",
    ]
    latest = await audit.latest("message_log.verify")
    assert latest is not None
    assert latest.outcome == "broken"
