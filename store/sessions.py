"""Units of work in a session of their own, for the store's façades.

The store's faces (``store.dossier_reads``, ``store.change_reads``, ``store.access_log_book``,
``store.reconciliation``) each answer one question or make one change; :class:`SessionRunner`
is the one place that opens the session for it, so that every query of one answer shares one
session (one snapshot) and their callers never hold a session themselves.

:data:`Engine` and :data:`SessionFactory` name what the composition root hands to packages that
still open their own sessions, so that those packages need not import the database library.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.db import create_sessionmaker, reader

#: an engine (``store.db.create_engine``), held only to be passed back to the store
Engine: TypeAlias = AsyncEngine
#: sessions on an engine (``store.db.create_sessionmaker``)
SessionFactory: TypeAlias = async_sessionmaker[AsyncSession]

_T = TypeVar("_T")


class SessionRunner:
    """Runs work in a fresh session on ``engine``: read-only, or in one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        # read-only sessions: on SQLite their transactions do not take the write lock
        self._readers = create_sessionmaker(reader(engine))
        self._writers = create_sessionmaker(engine)

    async def read(self, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        """``work``'s answer, its queries read in one read-only session (one snapshot)."""
        async with self._readers() as session:
            return await work(session)

    async def write(self, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        """``work``'s answer, its changes committed in one transaction (rolled back if it
        raises)."""
        async with self._writers() as session, session.begin():
            return await work(session)


__all__ = ["Engine", "SessionFactory", "SessionRunner"]
