"""The access log as the API reads it, and writes it outside the lookup logs' group commit.

A citizen lookup's row goes through ``store.logs`` (a group commit shared with the message log).
The change feed hands out several citizen events at once and records them here instead, all in
one transaction of its own, before the page is sent; the access-log route reads here. Rows are
keyed with ``key``, the ring loaded at start (``store.access_log``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from store.access_log import (
    DEFAULT_LIMIT,
    AccessLogEntry,
    AccessLogPage,
    list_for_citizen,
    record_lookup,
)
from store.access_log_keys import KeyRing
from store.sessions import SessionRunner


class AccessLogBook:
    """Reads and one-transaction writes of the access log on ``engine`` (module docstring)."""

    def __init__(self, engine: AsyncEngine, key: bytes | KeyRing) -> None:
        self._runner = SessionRunner(engine)
        self._key = key

    async def page_for(
        self, citizen_id: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> AccessLogPage:
        """The lookups of ``citizen_id``, newest first (``store.access_log.list_for_citizen``)."""
        return await self._runner.read(
            lambda session: list_for_citizen(
                session, citizen_id, key=self._key, limit=limit, cursor=cursor
            )
        )

    async def record_together(self, entries: Sequence[AccessLogEntry]) -> None:
        """Record ``entries`` in one transaction: all of them are committed, or none."""

        async def work(session: AsyncSession) -> None:
            for entry in entries:
                await record_lookup(session, entry, key=self._key)

        await self._runner.write(work)


__all__ = ["AccessLogBook"]
