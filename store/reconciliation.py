"""The dossiers as reconciliation with the portal walks and mends them (``sync.reconcile``).

Each method is one step of the walk, in a session of its own: a page is read with its sync
states and the events of its settled dossiers in one read-only session (one snapshot); each
mend is one transaction. Which dossiers are settled is reconciliation's rule, passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from schemas.models import DossierEvent
from store.dossier_reads import Timeline
from store.dossiers import (
    DossierRecord,
    SyncState,
    count_dossiers,
    dossier_page,
    get_dossier,
    histories,
    requeue,
    sync_states,
)
from store.errors import DossierNotFound
from store.sessions import SessionRunner

#: whether a dossier in this sync state is settled (nothing pending or dead for it)
Settled = Callable[[SyncState | None], bool]


@dataclass(frozen=True, slots=True)
class ReconcilePage:
    """A page of dossiers in code order, those of it that are settled, and their events."""

    records: list[DossierRecord]
    settled: list[DossierRecord]
    events: dict[str, list[DossierEvent]]


class Reconciliation:
    """The walk's reads and mends on ``engine`` (module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._runner = SessionRunner(engine)

    async def count_dossiers(self) -> int:
        """How many dossiers are stored."""
        return await self._runner.read(count_dossiers)

    async def page(self, *, after: str | None, limit: int, settled: Settled) -> ReconcilePage:
        """The dossiers after ``after`` in code order, and the events of the ``settled`` ones."""

        async def work(session: AsyncSession) -> ReconcilePage:
            records = await dossier_page(session, after=after, limit=limit)
            states = await sync_states(session, [r.dossier.code for r in records])
            ready = [r for r in records if settled(states.get(r.dossier.code))]
            events = await histories(session, [r.dossier.code for r in ready])
            return ReconcilePage(records, ready, events)

        return await self._runner.read(work)

    async def dossier(self, dossier_code: str) -> Timeline:
        """The dossier, its sync state and its events; ``DossierNotFound`` when not stored."""

        async def work(session: AsyncSession) -> Timeline:
            record = await get_dossier(session, dossier_code)
            if record is None:
                raise DossierNotFound(dossier_code)
            state = (await sync_states(session, [dossier_code])).get(dossier_code)
            events = (await histories(session, [dossier_code])).get(dossier_code, [])
            return Timeline(record, events, state)

        return await self._runner.read(work)

    async def requeue(self, dossier_code: str, *, from_scratch: bool) -> int:
        """Have the worker bring the portal level with the dossier (``store.dossiers.requeue``),
        in a transaction of its own; how many items were enqueued."""
        return await self._runner.write(
            lambda session: requeue(session, dossier_code, from_scratch=from_scratch)
        )


__all__ = ["ReconcilePage", "Reconciliation", "Settled"]
