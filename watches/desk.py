"""The watch list as the API changes and shows it: one method per request, each in a session
of its own (``store.sessions.SessionRunner``), so that the HTTP face never holds a session.

Registering a watch checks its purpose with the :class:`watches.registration.WatchPolicy` and
stores it in one transaction: the purpose is judged on the dossiers as they stand when the watch
is written, and a refused watch leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.times import utc_now
from store.sessions import SessionRunner
from store.watches.types import Watch, WatchKind
from store.watches.watch_list import delete_watch, get_watch, list_watches, put_watch
from watches.registration import Refusal, WatchPolicy


@dataclass(frozen=True, slots=True)
class Registered:
    """A watch as stored, and whether it is new (else its purpose and official were updated)."""

    watch: Watch
    created: bool


class WatchDesk:
    """Registers, removes and lists one client's watches (module docstring)."""

    def __init__(self, runner: SessionRunner, policy: WatchPolicy) -> None:
        self._run = runner
        self._policy = policy

    async def register(
        self, watch: Watch, *, now: dt.datetime | None = None
    ) -> Registered | Refusal:
        """The watch as stored, or why its purpose is refused (then nothing is stored)."""

        async def work(session: AsyncSession) -> Registered | Refusal:
            refusal = await self._policy.refusal(session, watch)
            if refusal is not None:
                return refusal
            created = await put_watch(session, watch, now=now or utc_now())
            stored = await get_watch(session, watch.kind, watch.record_id, watch.client)
            assert stored is not None
            return Registered(stored, created)

        return await self._run.write(work)

    async def remove(self, kind: WatchKind, record_id: str, client: str) -> bool:
        """Stop ``client`` watching the record; whether there was a watch to remove."""
        return await self._run.write(lambda session: delete_watch(session, kind, record_id, client))

    async def watches_of(self, client: str, *, kind: WatchKind | None, limit: int) -> list[Watch]:
        """``client``'s watches (of ``kind`` when given), by kind and record id."""
        return await self._run.read(
            lambda session: list_watches(session, client=client, kind=kind, limit=limit)
        )


__all__ = ["Registered", "WatchDesk"]
