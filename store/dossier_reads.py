"""The dossiers as the API reads them: one method per question, each in a session of its own.

Every answer that takes several queries reads them in one read-only session (one snapshot), so
a dossier and its sync state, or a feed page and its states, are seen as of one moment. Which
sectors a caller sees is the caller's rule: the methods take it as a predicate (``visible``) and
read nothing more of a dossier it may not see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from schemas.models import DossierEvent
from store.dossier_persons import PurposeFacts, purpose_facts
from store.dossiers import DossierRecord, SyncState, get_dossier, history, sync_state, sync_states
from store.feed import FeedPage, feed
from store.sessions import SessionRunner

#: whether a dossier of this sector (None: none recorded) may be shown to the caller
SectorVisible = Callable[[str | None], bool]


@dataclass(frozen=True, slots=True)
class DossierWithSync:
    """A stored dossier and its sync state (None: nothing ever enqueued for it)."""

    record: DossierRecord
    sync: SyncState | None


@dataclass(frozen=True, slots=True)
class Timeline:
    """A stored dossier, its events in sequence order and its sync state."""

    record: DossierRecord
    events: list[DossierEvent]
    sync: SyncState | None


@dataclass(frozen=True, slots=True)
class FeedWithSync:
    """A feed page and the sync state of each dossier on it that has one."""

    page: FeedPage
    sync: dict[str, SyncState]


class DossierReads:
    """Read-only questions about dossiers, on ``engine`` (module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._run = SessionRunner(engine).read

    async def record(self, dossier_code: str, *, visible: SectorVisible) -> DossierRecord | None:
        """The stored dossier; None when it is not stored or not ``visible``."""
        return await self._run(lambda session: visible_record(session, dossier_code, visible))

    async def visible_dossier(
        self, dossier_code: str, *, visible: SectorVisible
    ) -> DossierWithSync | None:
        """The dossier and its sync state; None when it is not stored or not ``visible``."""

        async def work(session: AsyncSession) -> DossierWithSync | None:
            record = await visible_record(session, dossier_code, visible)
            if record is None:
                return None
            return DossierWithSync(record, await sync_state(session, dossier_code))

        return await self._run(work)

    async def timeline(self, dossier_code: str, *, visible: SectorVisible) -> Timeline | None:
        """The dossier, its events and its sync state; None when not stored or not ``visible``."""

        async def work(session: AsyncSession) -> Timeline | None:
            record = await visible_record(session, dossier_code, visible)
            if record is None:
                return None
            events = await history(session, dossier_code)
            return Timeline(record, events, await sync_state(session, dossier_code))

        return await self._run(work)

    async def feed_page(
        self,
        *,
        updated_since: dt.datetime | None,
        cursor: str | None,
        sectors: Collection[str] | None,
        limit: int,
    ) -> FeedWithSync:
        """A page of the feed (``store.feed.feed``) and the sync states of its dossiers."""

        async def work(session: AsyncSession) -> FeedWithSync:
            page = await feed(
                session, updated_since=updated_since, cursor=cursor, sectors=sectors, limit=limit
            )
            states = await sync_states(session, [r.dossier.code for r in page.items])
            return FeedWithSync(page, states)

        return await self._run(work)

    async def purpose(self, dossier_code: str) -> PurposeFacts | None:
        """The dossier as a purpose of a citizen lookup (``store.dossier_persons``)."""
        return await self._run(lambda session: purpose_facts(session, dossier_code))


async def visible_record(
    session: AsyncSession, dossier_code: str, visible: SectorVisible
) -> DossierRecord | None:
    """The stored dossier read in ``session``; None when it is not stored or not ``visible``
    (for the desks that read more in the same session)."""
    record = await get_dossier(session, dossier_code)
    if record is None or not visible(record.dossier.sector_code):
        return None
    return record


__all__ = [
    "DossierReads",
    "DossierWithSync",
    "FeedWithSync",
    "SectorVisible",
    "Timeline",
    "visible_record",
]
