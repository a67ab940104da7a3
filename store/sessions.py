"""Units of work in a session of their own, for the store's façades.

The store's faces (``store.dossier_reads``, ``store.watches.change_reads``,
``store.access_log_book``, ``store.reconciliation``) and the domains' desks (``watches.desk``,
``chains.desk``, ``timeliness.desk``) each answer one question or make one change;
:class:`SessionRunner` is the one place that opens the session for it, so that every query of
one answer shares one session (one snapshot) and their callers never hold a session themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from store.db import create_sessionmaker, reader

_T = TypeVar("_T")


class SessionRunner:
    """Runs work in a fresh session: read-only, or in one transaction on ``engine``.

    Reads go to ``read_engine`` when given (on SQLite, the pool of readers beside the one
    writer: see ``lienthong.bootstrap``), else to ``engine``.
    """

    def __init__(self, engine: AsyncEngine, *, read_engine: AsyncEngine | None = None) -> None:
        # read-only sessions: on SQLite their transactions do not take the write lock
        self._readers = create_sessionmaker(reader(read_engine or engine))
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


__all__ = ["SessionRunner"]
