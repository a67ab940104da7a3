"""Server-side console sessions: a random id in a cookie, everything else in the store.

The browser keeps a 256-bit random session id in an ``HttpOnly``, ``Secure``, ``SameSite=Strict``
cookie scoped to ``/console``; the store keeps only its SHA-256, the operator, how they were
authenticated and a CSRF token bound to the session. A session ends when the operator logs out,
after ``idle`` without a request, or ``absolute`` after it was opened, whichever comes first.

Sessions are opened for an :class:`~console.accounts.Identity`, whoever vouched for it: the
password login today; an OpenID Connect login would call :meth:`SessionManager.open` the same way
once it has mapped the provider's claims to a name and role, and nothing here would change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from console.accounts import Identity
from console.roles import ConsoleRole
from schemas.times import utc_now
from store import operators as rows

COOKIE_NAME = "lienthong_console"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A live session: who, with which role, and the CSRF token its forms must carry."""

    id_sha256: str
    operator: str
    role: ConsoleRole
    method: str
    csrf_token: str

    def csrf_matches(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (compared in constant time)."""
        return token is not None and hmac.compare_digest(token, self.csrf_token)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a session lives: idle, and at most."""

    idle: dt.timedelta = dt.timedelta(minutes=15)
    absolute: dt.timedelta = dt.timedelta(hours=10)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


class SessionManager:
    """Opens, resolves and ends console sessions."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        policy: SessionPolicy | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._sessions = sessions
        self.policy = policy or SessionPolicy()
        self._clock = clock

    async def open(self, identity: Identity) -> tuple[str, ConsoleSession]:
        """A new session for ``identity``: the id for the cookie, and the session."""
        session_id = secrets.token_urlsafe(32)
        live = ConsoleSession(
            id_sha256=_digest(session_id),
            operator=identity.name,
            role=identity.role,
            method=identity.method,
            csrf_token=secrets.token_urlsafe(32),
        )
        now = self._clock()
        async with self._sessions() as session, session.begin():
            await rows.drop_idle_sessions(session, now - self.policy.idle)
            await rows.create_session(
                session,
                id_sha256=live.id_sha256,
                operator=live.operator,
                method=live.method,
                csrf_token=live.csrf_token,
                now=now,
            )
        return session_id, live

    async def resolve(self, session_id: str | None) -> ConsoleSession | None:
        """The live session behind a cookie's id (its idle time restarts), or None."""
        if not session_id:
            return None
        id_sha256 = _digest(session_id)
        now = self._clock()
        async with self._sessions() as session, session.begin():
            row = await rows.get_session(session, id_sha256)
            if row is None:
                return None
            expired = (
                now - row.last_seen_at > self.policy.idle
                or now - row.created_at > self.policy.absolute
            )
            if expired:
                await rows.drop_session(session, id_sha256)
                return None
            await rows.touch_session(session, id_sha256, now)
        return ConsoleSession(
            id_sha256=id_sha256,
            operator=row.operator,
            role=ConsoleRole(row.role),
            method=row.method,
            csrf_token=row.csrf_token,
        )

    async def close(self, live: ConsoleSession) -> None:
        """End ``live`` (logout)."""
        async with self._sessions() as session, session.begin():
            await rows.drop_session(session, live.id_sha256)


__all__ = ["COOKIE_NAME", "ConsoleSession", "SessionManager", "SessionPolicy"]
