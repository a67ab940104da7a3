"""The change feed as the API pages it: one method per question, each in a session of its own.

A citizen's page is read in the same session as the watch that entitles the caller to it, so
that a page is never read past a watch found missing (or the reverse).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from store.sessions import SessionRunner
from store.watches.changes import changes_since
from store.watches.types import ChangeEvent, WatchKind
from store.watches.watch_list import get_watch


class ChangeReads:
    """Pages of the change feed on ``engine`` (module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._run = SessionRunner(engine).read

    async def changes(
        self,
        *,
        client: str,
        after: int,
        kinds: Collection[WatchKind],
        record_id: str | None,
        limit: int,
    ) -> list[ChangeEvent]:
        """The events after ``after`` that ``client`` may read (``changes_since``)."""
        return await self._run(
            lambda session: changes_since(
                session, after=after, client=client, kinds=kinds, record_id=record_id, limit=limit
            )
        )

    async def watched_citizen_changes(
        self, citizen_id: str, *, client: str, after: int, limit: int
    ) -> list[ChangeEvent] | None:
        """The citizen's events after ``after``; None when ``client`` does not watch them."""

        async def work(session: AsyncSession) -> list[ChangeEvent] | None:
            if await get_watch(session, WatchKind.CITIZEN, citizen_id, client) is None:
                return None
            return await changes_since(
                session,
                after=after,
                client=client,
                kinds=[WatchKind.CITIZEN],
                record_id=citizen_id,
                limit=limit,
            )

        return await self._run(work)


__all__ = ["ChangeReads"]
