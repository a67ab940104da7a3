"""Operator accounts: Argon2id password hashes, and lockout after repeated failed logins.

A password is checked against its Argon2id hash (``argon2-cffi``, memory-hard: 64 MiB, three
passes by default). An unknown name is checked against a dummy hash, so a wrong name and a wrong
password take the same time and get the same answer. After ``lockout_after`` failures in a row an
account is locked for ``lockout_for``; a success clears the count. ``lienthong operators unlock``
clears a lockout at once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from console.errors import LockedOut, LoginRefused, OperatorError
from console.roles import ConsoleRole
from schemas.times import utc_now
from store import operators as rows

#: what an operator may be called: letters, digits, dot, dash, underscore; 2 to 64 characters
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}")
MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an authenticator says the operator is; what a session is opened for.

    ``method`` names how they proved it (``password``; an OpenID Connect login would say ``oidc``
    and map its claims to a name and role): the session layer takes any identity alike.
    """

    name: str
    role: ConsoleRole
    method: str


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Failed logins in a row that lock an account, and for how long."""

    after: int = 5
    duration: dt.timedelta = dt.timedelta(minutes=15)


def password_hasher(*, memory_kib: int = 65536, passes: int = 3) -> PasswordHasher:
    """An Argon2id hasher (``memory_kib`` of memory, ``passes`` passes, one lane)."""
    return PasswordHasher(time_cost=passes, memory_cost=memory_kib, parallelism=1)


class Accounts:
    """The operator accounts (add, change password, unlock) and the password authenticator."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        hasher: PasswordHasher | None = None,
        lockout: LockoutPolicy | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._sessions = sessions
        self._hasher = hasher or password_hasher()
        self._lockout = lockout or LockoutPolicy()
        self._clock = clock
        self._dummy_hash = self._hasher.hash("not a password of anyone")

    async def add(self, name: str, role: str, password: str) -> None:
        """Create an operator (``OperatorError``: a bad name, role or password, or a name taken)."""
        checked_role = _role(role)
        _check_name(name)
        _check_password(password)
        password_hash = self._hasher.hash(password)
        async with self._sessions() as session, session.begin():
            if not await rows.add_operator(
                session, name, checked_role.value, password_hash, self._clock()
            ):
                raise OperatorError(f"an operator called {name} exists already")

    async def set_password(self, name: str, password: str) -> None:
        """Give ``name`` a new password (and clear its lockout)."""
        _check_password(password)
        password_hash = self._hasher.hash(password)
        async with self._sessions() as session, session.begin():
            if not await rows.set_password(session, name, password_hash):
                raise OperatorError(f"no operator called {name}")

    async def unlock(self, name: str) -> None:
        """Clear ``name``'s lockout and failure count."""
        async with self._sessions() as session, session.begin():
            if not await rows.unlock(session, name):
                raise OperatorError(f"no operator called {name}")

    async def list(self) -> list[rows.OperatorRow]:
        """Every operator, by name."""
        async with self._sessions() as session:
            return await rows.list_operators(session)

    async def authenticate(self, name: str, password: str) -> Identity:
        """The identity behind ``name`` and ``password``; ``LoginRefused`` or ``LockedOut``.

        The failure count and a new lockout are committed before the refusal is raised.
        """
        now = self._clock()
        refusal: LoginRefused | LockedOut | None = None
        async with self._sessions() as session, session.begin():
            operator = await rows.get_operator(session, name) if _valid_name(name) else None
            if operator is None or operator.password_hash is None:
                self._matches(self._dummy_hash, password)
                refusal = LoginRefused("wrong name or password")
            elif operator.locked_until is not None and operator.locked_until > now:
                refusal = LockedOut(operator.locked_until)
            elif not self._matches(operator.password_hash, password):
                refusal = LoginRefused("wrong name or password")
                if await rows.record_failed_login(session, name) >= self._lockout.after:
                    until = now + self._lockout.duration
                    await rows.lock(session, name, until)
                    refusal = LockedOut(until)
            else:
                await rows.record_login(session, name, now)
                if self._hasher.check_needs_rehash(operator.password_hash):
                    await rows.set_password(session, name, self._hasher.hash(password))
        if refusal is not None:
            raise refusal
        assert operator is not None
        return Identity(name=name, role=ConsoleRole(operator.role), method="password")

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def _role(role: str) -> ConsoleRole:
    try:
        return ConsoleRole(role)
    except ValueError:
        choices = ", ".join(r.value for r in ConsoleRole)
        raise OperatorError(f"unknown role {role!r} (one of {choices})") from None


def _valid_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


def _check_name(name: str) -> None:
    if not _valid_name(name):
        raise OperatorError(
            "an operator name is 2 to 64 letters, digits, dots, dashes or underscores"
        )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")


__all__ = ["Accounts", "Identity", "LockoutPolicy", "password_hasher"]
