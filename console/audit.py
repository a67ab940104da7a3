"""The audit trail: every operator action (and every look at the access log), append-only.

Targets name dossiers, dead-letter ids and message ids; a citizen is named only by the access
log's keyed hash of the ID, so the trail itself holds no personal data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.times import utc_now
from store import operators as rows


class AuditTrail:
    """Appends to and reads the operators' audit trail."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    async def record(
        self, operator: str, action: str, *, target: str | None = None, outcome: str = "ok"
    ) -> None:
        """Append one entry: who did what to which target, and how it ended."""
        async with self._sessions() as session, session.begin():
            await rows.append_audit(
                session,
                operator=operator,
                action=action,
                target=target,
                outcome=outcome,
                now=self._clock(),
            )

    async def recent(self, limit: int = 100) -> list[rows.AuditRow]:
        """The newest ``limit`` entries, newest first."""
        async with self._sessions() as session:
            return await rows.recent_audit(session, limit=limit)

    async def latest(self, action: str) -> rows.AuditRow | None:
        """The newest entry of ``action``, or None."""
        async with self._sessions() as session:
            found = await rows.recent_audit(session, limit=1, action=action)
        return found[0] if found else None


__all__ = ["AuditTrail"]
