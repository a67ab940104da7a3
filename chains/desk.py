"""Chains as the API takes them in and shows them: one method per request, each in a session
of its own (``store.sessions.SessionRunner``), so that the HTTP face never holds a session.

A filing is taken in (``chains.intake.take_in``) in one transaction. When two requests take the
same chain in at once, the one that loses the race on the chain's row looks again once: it then
finds the chain taken in (the same filing: not created; another one: ``ChainConflict``).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from chains.definitions import ChainDefinition
from chains.intake import ChainFiling, TakenIn, take_in
from chains.runtime import ChainRuntime
from chains.views import ChainView, chain_view
from store.errors import ConstraintViolation
from store.sessions import SessionRunner


class ChainDesk:
    """Takes chain dossiers in and shows where their steps stand (module docstring)."""

    def __init__(self, runtime: ChainRuntime, runner: SessionRunner) -> None:
        self._runtime = runtime
        self._run = runner

    def definition(self, chain_id: str) -> ChainDefinition | None:
        """The chain definition ``chain_id``, if this process knows one."""
        return self._runtime.definitions.get(chain_id)

    async def take_in(self, definition: ChainDefinition, filing: ChainFiling) -> TakenIn:
        """Take ``filing`` in; ``ConstraintViolation`` when the race is lost twice in a row."""

        async def work(session: AsyncSession) -> TakenIn:
            return await take_in(session, definition, filing, self._runtime.calendar)

        try:
            return await self._run.write(work)
        except ConstraintViolation:  # the same chain taken in at once by another request
            return await self._run.write(work)

    async def view(self, dossier_code: str, *, sectors: Collection[str] | None) -> ChainView:
        """The chain and its steps in ``sectors`` (all when None); ``ChainNotFound`` when it
        is absent or none of its steps is visible."""
        runtime = self._runtime
        return await self._run.read(
            lambda session: chain_view(
                session, dossier_code, runtime.definitions, runtime.calendar, sectors=sectors
            )
        )


__all__ = ["ChainDesk"]
