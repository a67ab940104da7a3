"""The timeliness report and the apologies as the API asks for them: one method per request,
each in a session of its own (``store.sessions.SessionRunner``), so that the HTTP face never
holds a session.

What one answer reads, it reads in one read-only session (a dossier and its apologies are seen
as of one moment); a confirmation is one transaction (the apology, the dossier's new due date and
its delivery to the portal together). Which sectors a caller sees is the caller's rule: the
methods take it as a predicate (``visible``) or a set (``sectors``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.models import Dossier
from store.deadline_rules import DeadlineRules
from store.dossier_reads import SectorVisible, visible_record
from store.sessions import SessionRunner
from timeliness.apology import (
    Apology,
    ApologyState,
    confirm_apology,
    get_apology,
    list_apologies,
)
from timeliness.report import Report, ReportQuery, timeliness_report

#: the most apologies one dossier's list shows
DOSSIER_APOLOGIES = 500


@dataclass(frozen=True, slots=True)
class Printable:
    """An apology and the dossier it is for, read together to be printed."""

    apology: Apology
    dossier: Dossier


class TimelinessDesk:
    """The report and the apologies (module docstring)."""

    def __init__(self, runner: SessionRunner) -> None:
        self._run = runner

    async def report(
        self, query: ReportQuery, now: dt.datetime, *, counts_paused_time: bool
    ) -> Report:
        """The report of ``query`` as of ``now``, computed by the database."""
        return await self._run.read(
            lambda session: timeliness_report(
                session, query, now, counts_paused_time=counts_paused_time
            )
        )

    async def apologies(
        self, *, state: ApologyState | None, sectors: Collection[str] | None, limit: int
    ) -> list[Apology]:
        """Apologies, newest first, of the dossiers in ``sectors`` (all when None)."""
        return await self._run.read(
            lambda session: list_apologies(session, state=state, sectors=sectors, limit=limit)
        )

    async def dossier_apologies(
        self, dossier_code: str, *, visible: SectorVisible
    ) -> list[Apology] | None:
        """The dossier's apologies, newest first; None when it is not stored or not
        ``visible``."""

        async def work(session: AsyncSession) -> list[Apology] | None:
            if await visible_record(session, dossier_code, visible) is None:
                return None
            return await list_apologies(session, dossier_code=dossier_code, limit=DOSSIER_APOLOGIES)

        return await self._run.read(work)

    async def confirm(
        self,
        dossier_code: str,
        apology_id: int,
        *,
        by: str,
        now: dt.datetime,
        rules: DeadlineRules | None,
        new_due_at: dt.datetime | None,
        sectors: Collection[str] | None,
    ) -> Apology:
        """The confirmed apology (``timeliness.apology.confirm_apology``, in one transaction)."""

        async def work(session: AsyncSession) -> Apology:
            confirmed, _ = await confirm_apology(
                session,
                dossier_code,
                apology_id,
                by=by,
                now=now,
                rules=rules,
                new_due_at=new_due_at,
                sectors=sectors,
            )
            return confirmed

        return await self._run.write(work)

    async def printable(
        self, dossier_code: str, apology_id: int, *, visible: SectorVisible
    ) -> Printable | None:
        """The apology and its dossier; None when the dossier is not stored or not
        ``visible``; ``ApologyNotFound`` when the dossier has no such apology."""

        async def work(session: AsyncSession) -> Printable | None:
            record = await visible_record(session, dossier_code, visible)
            if record is None:
                return None
            return Printable(await get_apology(session, dossier_code, apology_id), record.dossier)

        return await self._run.read(work)


__all__ = ["DOSSIER_APOLOGIES", "Printable", "TimelinessDesk"]
