"""Purpose binding: the dossier named in ``X-Issue`` must exist before personal data is looked up.

:class:`IssueDirectory` answers "is this dossier registered, and in which sector?" and remembers
positive answers for a short while (a dossier, once registered, stays), so a burst of lookups for
one dossier costs one query. Unknown codes are never cached: a dossier registered a moment ago is
found at once. Writes through the API refresh the entry.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.tables.dossiers import dossiers


class IssueDirectory:
    """Registered dossiers' sectors, with a bounded, short-lived cache of positive answers."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl_seconds: float = 60.0,
        max_entries: int = 10_000,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    async def lookup(self, dossier_code: str) -> tuple[bool, str | None]:
        """``(exists, sector)`` for a dossier code."""
        now = time.monotonic()
        hit = self._cache.get(dossier_code)
        if hit is not None and hit[1] > now:
            return True, hit[0]
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(dossiers.c.sector).where(dossiers.c.code == dossier_code)
                )
            ).first()
        if row is None:
            self._cache.pop(dossier_code, None)
            return False, None
        self.remember(dossier_code, row.sector, now=now)
        return True, row.sector

    def remember(self, dossier_code: str, sector: str | None, *, now: float | None = None) -> None:
        """Note that ``dossier_code`` exists in ``sector`` (called after a write)."""
        expires = (now if now is not None else time.monotonic()) + self._ttl
        self._cache[dossier_code] = (sector, expires)
        self._cache.move_to_end(dossier_code)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)


__all__ = ["IssueDirectory"]
