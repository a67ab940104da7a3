"""The timeliness parts wired together, and the background job that keeps them current.

:class:`Timeliness` holds the calendar, the procedure table in memory, the store's deadline rules,
the classifier and the apology policy, built once from the settings' values. The
:class:`TimelinessService` (started with the adapter) loads the procedure table from the store,
then every ``interval`` seconds refreshes it from the portal's catalogue (``ThoiHanGiaiQuyet``)
and drafts the apologies that have fallen due. A failed pass is logged by its error's type
(never a payload) and tried again at the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.times import utc_now
from timeliness.apology import ApologyPolicy, draft_apologies
from timeliness.calendar import DEFAULT_CUTOFF, WorkingCalendar
from timeliness.classify import Classifier
from timeliness.procedures import (
    ProcedureDeadline,
    ProcedureDeadlines,
    load_deadlines,
    store_deadlines,
)
from timeliness.rules import CalendarRules

log = logging.getLogger("lienthong.timeliness")

#: fetches the portal's catalogue as procedure deadlines
CatalogueSource = Callable[[], Awaitable[Sequence[ProcedureDeadline]]]


@dataclass(frozen=True)
class Timeliness:
    """Calendar, procedure table, deadline rules, classifier and apology policy, together."""

    calendar: WorkingCalendar
    procedures: ProcedureDeadlines
    rules: CalendarRules
    classifier: Classifier
    apologies: ApologyPolicy
    agency_name: str | None = None
    font_path: Path | None = None

    @classmethod
    def build(
        cls,
        *,
        overrides_dir: Path | None = None,
        cutoff: time = DEFAULT_CUTOFF,
        count_paused: bool = False,
        at_risk_hours: float = 8.0,
        apology_on_at_risk: bool = False,
        extension_working_days: int = 5,
        agency_name: str | None = None,
        font_path: Path | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> Timeliness:
        """The parts from the settings' values (the calendar loaded from ``overrides_dir``)."""
        calendar = calendar or WorkingCalendar.load(overrides_dir)
        procedures = ProcedureDeadlines()
        classifier = Classifier(calendar, at_risk_hours, cutoff, count_paused)
        return cls(
            calendar=calendar,
            procedures=procedures,
            rules=CalendarRules(calendar, procedures, cutoff, count_paused),
            classifier=classifier,
            apologies=ApologyPolicy(classifier, apology_on_at_risk, extension_working_days),
            agency_name=agency_name,
            font_path=font_path,
        )

    async def load_procedures(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """Read the store's procedure table into memory; how many procedures it has."""
        async with sessions() as session:
            days = await load_deadlines(session)
        self.procedures.replace(days)
        return len(days)

    async def refresh_procedures(
        self, sessions: async_sessionmaker[AsyncSession], source: CatalogueSource
    ) -> int:
        """Fetch the catalogue, store it, and reload the table; how many were stored."""
        deadlines = await source()
        async with sessions() as session, session.begin():
            stored = await store_deadlines(session, deadlines)
        await self.load_procedures(sessions)
        return stored

    async def draft_apologies(
        self, sessions: async_sessionmaker[AsyncSession], now: datetime | None = None
    ) -> int:
        """Draft the apologies that have fallen due; how many were drafted."""
        async with sessions() as session, session.begin():
            drafted = await draft_apologies(session, self.apologies, now or utc_now())
        return len(drafted)


class TimelinessService:
    """The procedure-table refresh and the apology drafts, every ``interval`` seconds."""

    name = "timeliness"

    def __init__(
        self,
        timeliness: Timeliness,
        sessions: async_sessionmaker[AsyncSession],
        source: CatalogueSource | None,
        *,
        interval: float,
        first_pass_seconds: float = 5.0,
    ) -> None:
        self._timeliness = timeliness
        self._sessions = sessions
        self._source = source
        self._interval = interval
        self._first_pass_seconds = first_pass_seconds
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load the procedure table and run a first pass (waiting ``first_pass_seconds`` at
        most, so a dossier written right after start gets its due date), then the passes in the
        background."""
        await self._timeliness.load_procedures(self._sessions)
        if self._task is None and self._interval > 0:
            self._stop.clear()
            first = asyncio.create_task(self.run_once(), name=f"{self.name}-first")
            await asyncio.wait({first}, timeout=self._first_pass_seconds)
            self._task = asyncio.create_task(self._run(first), name=self.name)

    async def stop(self) -> None:
        """Stop the passes (one in flight is cancelled; the next start does it again)."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> None:
        """One pass: refresh the procedure table (when there is a source), draft apologies."""
        if self._source is not None:
            try:
                await self._timeliness.refresh_procedures(self._sessions, self._source)
            except Exception as exc:  # a failed refresh keeps the table it has
                log.warning("procedure deadlines not refreshed (%s)", type(exc).__name__)
        try:
            await self._timeliness.draft_apologies(self._sessions)
        except Exception as exc:
            log.warning("apologies not drafted (%s)", type(exc).__name__)

    async def _run(self, first: asyncio.Task[None]) -> None:
        try:
            await first
        finally:
            first.cancel()
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._interval)
            if not self._stop.is_set():
                await self.run_once()
