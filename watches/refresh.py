"""The refresh job: re-read watched records nationally and record what changed.

A pass walks the watched records of each kind in record id order (citizens through the population
connector, businesses through the registry connector, both kinds side by side), in batches. Each
batch is read concurrently within the upstream's rate budget; the observations are then applied in
order, in one transaction together with the pass's progress, up to the first transient failure
(an outage, an open circuit). That kind then stops; the pass is released and the next refresh
resumes it from the last record applied. Applying is idempotent (see ``watches.observations``),
so the records re-read on resume never produce a second event.

A national "not found" is an observation like any other (``watches.observations`` turns it into a
``not_found`` event); any other permanent refusal of one record is counted and skipped.

Logs carry counts, kinds and upstreams only: never a record id (a citizen ID is personal data).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.base import CallContext
from connectors.errors import ConnectorError, NotFound, TransientError
from schemas.dossier_code import validate_dossier_code
from schemas.errors import SchemaError
from schemas.times import utc_now
from store.watches.refresh_runs import close_refresh_run, open_refresh_run, save_refresh_progress
from store.watches.types import RefreshRun, RefreshTarget, Watch, WatchKind
from store.watches.watch_list import refresh_targets
from watches.observations import Observation, apply_observation
from watches.rate_budget import RateBudget

logger = logging.getLogger(__name__)

#: the upstream each kind of record is read from
UPSTREAM_OF: Mapping[WatchKind, str] = {
    WatchKind.CITIZEN: "population",
    WatchKind.BUSINESS: "registry",
}


class CitizenReader(Protocol):
    """What the refresh needs of the population connector."""

    async def get_citizen(self, citizen_id: str, ctx: CallContext) -> BaseModel:
        """The citizen's record; raises ``NotFound`` when the national system does not know it."""
        ...


class BusinessReader(Protocol):
    """What the refresh needs of the registry connector."""

    async def get_business(self, tax_code: str, ctx: CallContext) -> BaseModel:
        """The business's record; raises ``NotFound`` when the registry does not know it."""
        ...


def canonical_record(model: BaseModel, *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """The canonical form of a record compared between refreshes: its JSON dump."""
    return model.model_dump(mode="json", exclude=set(exclude) or None)


@dataclass(frozen=True, slots=True)
class RefreshSettings:
    """How a refresh pass runs.

    ``batch_size`` records are read concurrently (at most ``concurrency`` in flight) and applied
    in one transaction; ``lease_seconds`` must cover one batch (another process may take over a
    pass whose lease expired). ``user_id`` is the official named in population lookups of
    watches registered without one.
    ``exclude_fields`` are volatile fields of the models that are not compared.
    """

    batch_size: int = 50
    concurrency: int = 8
    lease_seconds: float = 120.0
    user_id: str | None = None
    exclude_fields: Mapping[WatchKind, frozenset[str]] = field(default_factory=dict)


@dataclass(slots=True)
class KindReport:
    """What a pass did for one kind of record."""

    checked: int = 0
    changes: int = 0
    failed: int = 0
    interrupted: bool = False
    upstream_error: str | None = None
    done: bool = False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "checked": self.checked,
            "changes": self.changes,
            "failed": self.failed,
            "interrupted": self.interrupted,
            "upstream_error": self.upstream_error,
            "done": self.done,
        }


@dataclass(slots=True)
class RefreshReport:
    """The outcome of one ``run_once``: a pass started or resumed, finished or interrupted.

    ``busy`` is set when another process holds the pass's lease (nothing was done).
    """

    run_id: int | None = None
    resumed: bool = False
    busy: bool = False
    finished: bool = False
    kinds: dict[WatchKind, KindReport] = field(default_factory=dict)

    @property
    def checked(self) -> int:
        """Records re-read and applied in this call."""
        return sum(report.checked for report in self.kinds.values())

    @property
    def changes(self) -> int:
        """Change events recorded in this call."""
        return sum(report.changes for report in self.kinds.values())

    @property
    def interrupted(self) -> bool:
        """Whether an upstream failure cut the pass short (a later refresh resumes it)."""
        return any(report.interrupted for report in self.kinds.values())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "run_id": self.run_id,
            "resumed": self.resumed,
            "busy": self.busy,
            "finished": self.finished,
            "checked": self.checked,
            "changes": self.changes,
            "interrupted": self.interrupted,
            "kinds": {kind.value: report.as_dict() for kind, report in self.kinds.items()},
        }


def _names_a_dossier(watch: Watch) -> bool:
    """Whether a watch's purpose is a dossier code (what the population service's ``issue`` is)."""
    try:
        validate_dossier_code(watch.purpose)
    except SchemaError:
        return False
    return True


class _Skipped:
    """A read not attempted because an earlier one in the batch failed transiently."""


_SKIPPED = _Skipped()
_Outcome = Observation | ConnectorError | _Skipped


class WatchRefresher:
    """Runs refresh passes over the watch list (``run_once``, or ``run_forever`` on a schedule)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        population: CitizenReader,
        registry: BusinessReader,
        budget: RateBudget | None = None,
        settings: RefreshSettings | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        owner: str | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_progress = on_progress
        self._population = population
        self._registry = registry
        self._budget = budget or RateBudget.unlimited()
        self._settings = settings or RefreshSettings()
        self._clock = clock
        self.owner = owner or f"refresh-{uuid.uuid4().hex[:12]}"

    async def run_once(self) -> RefreshReport:
        """Start a pass (or resume the interrupted one) and run it as far as the upstreams allow."""
        lease = dt.timedelta(seconds=self._settings.lease_seconds)
        async with self._sessions.begin() as session:
            run = await open_refresh_run(session, owner=self.owner, now=self._clock(), lease=lease)
        if run is None:
            logger.info("records refresh skipped: another refresher holds the pass")
            return RefreshReport(busy=True)
        report = RefreshReport(run_id=run.id, resumed=bool(run.progress))
        finished = False
        try:
            kinds = [kind for kind in WatchKind if not run.done(kind)]
            results = await asyncio.gather(*(self._refresh_kind(run, kind) for kind in kinds))
            report.kinds = dict(zip(kinds, results, strict=True))
            finished = all(run.done(kind) for kind in WatchKind)
        finally:
            async with self._sessions.begin() as session:
                await close_refresh_run(session, run, now=self._clock(), finished=finished)
        report.finished = finished
        logger.info(
            "records refresh pass %s: checked=%d changes=%d finished=%s interrupted=%s",
            run.id,
            report.checked,
            report.changes,
            finished,
            report.interrupted,
        )
        return report

    async def run_forever(
        self,
        *,
        interval: float,
        stop: asyncio.Event,
        retry_interval: float | None = None,
        initial_delay: float = 0.0,
    ) -> None:
        """Run a pass every ``interval`` seconds (an interrupted one sooner) until ``stop``."""
        if initial_delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=initial_delay)
        while not stop.is_set():
            wait = interval
            try:
                report = await self.run_once()
                if report.interrupted or report.busy:
                    wait = min(interval, retry_interval if retry_interval is not None else interval)
            except Exception:
                logger.exception("records refresh pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    async def _refresh_kind(self, run: RefreshRun, kind: WatchKind) -> KindReport:
        """Walk ``kind``'s watched records; the next batch is read while this one is applied."""
        report = KindReport()
        after = run.after(kind)
        targets = await self._targets(kind, after)
        reading = asyncio.ensure_future(self._read_batch(kind, targets))
        try:
            while True:
                outcomes = await reading
                full = len(targets) == self._settings.batch_size
                upcoming: list[RefreshTarget] = []
                if full and not any(isinstance(o, TransientError) for o in outcomes):
                    upcoming = await self._targets(kind, targets[-1].record_id)
                    reading = asyncio.ensure_future(self._read_batch(kind, upcoming))
                after = await self._apply_batch(run, kind, targets, outcomes, after, report)
                if report.interrupted:
                    logger.warning(
                        "records refresh of %s interrupted by %s (%s); it resumes on the next run",
                        kind.value,
                        UPSTREAM_OF[kind],
                        report.upstream_error,
                    )
                if report.interrupted or report.done:
                    return report
                targets = upcoming
        finally:
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading

    async def _targets(self, kind: WatchKind, after: str | None) -> list[RefreshTarget]:
        async with self._sessions() as session:
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            return await refresh_targets(
                session, kind, after=after, limit=self._settings.batch_size, prefer=_names_a_dossier
            )

    async def _apply_batch(
        self,
        run: RefreshRun,
        kind: WatchKind,
        targets: Sequence[RefreshTarget],
        outcomes: Sequence[_Outcome],
        after: str | None,
        report: KindReport,
    ) -> str | None:
        """Apply a batch's observations up to the first transient failure; the new ``after``."""
        lease_until = self._clock() + dt.timedelta(seconds=self._settings.lease_seconds)
        async with self._sessions.begin() as session:
            for target, outcome in zip(targets, outcomes, strict=True):
                if isinstance(outcome, _Skipped):
                    break
                if isinstance(outcome, TransientError):
                    report.interrupted = True
                    report.upstream_error = type(outcome).__name__
                    break
                if isinstance(outcome, ConnectorError):
                    report.failed += 1
                else:
                    event = await apply_observation(
                        session, kind, target.record_id, outcome, observed_at=self._clock()
                    )
                    report.checked += 1
                    report.changes += event is not None
                after = target.record_id
                if self._on_progress is not None:
                    self._on_progress(1)
            report.done = not report.interrupted and len(targets) < self._settings.batch_size
            await save_refresh_progress(
                session, run, kind, after=after, done=report.done, lease_until=lease_until
            )
        return after

    async def _read_batch(
        self, kind: WatchKind, targets: Sequence[RefreshTarget]
    ) -> list[_Outcome]:
        semaphore = asyncio.Semaphore(self._settings.concurrency)
        failed = asyncio.Event()

        async def read(target: RefreshTarget) -> _Outcome:
            async with semaphore:
                if failed.is_set():
                    return _SKIPPED
                await self._budget.acquire(UPSTREAM_OF[kind])
                if failed.is_set():
                    return _SKIPPED
                try:
                    return await self._read(kind, target)
                except TransientError as exc:
                    failed.set()
                    return exc
                except ConnectorError as exc:
                    return exc

        return list(await asyncio.gather(*(read(target) for target in targets)))

    async def _read(self, kind: WatchKind, target: RefreshTarget) -> Observation:
        ctx = CallContext.new(
            target.client,
            user_id=target.official or self._settings.user_id,
            issue=target.purpose or None,
        )
        exclude = self._settings.exclude_fields.get(kind, frozenset())
        try:
            if kind is WatchKind.CITIZEN:
                model = await self._population.get_citizen(target.record_id, ctx)
            else:
                model = await self._registry.get_business(target.record_id, ctx)
        except NotFound:
            return Observation(None)
        return Observation(canonical_record(model, exclude=exclude))


class WatchRefreshService:
    """The scheduled refresh as a service started and stopped with the adapter (or a worker).

    Every ``interval`` seconds it runs a pass (an interrupted pass is retried after
    ``retry_interval``), the first one ``initial_delay`` seconds after start (``interval`` by
    default); ``stop`` cancels the pass in flight, which the next start resumes.
    """

    name = "records-refresh"

    def __init__(
        self,
        refresher: WatchRefresher,
        *,
        interval: float = 3600.0,
        retry_interval: float = 60.0,
        initial_delay: float | None = None,
    ) -> None:
        self._refresher = refresher
        self._interval = interval
        self._retry_interval = retry_interval
        self._initial_delay = interval if initial_delay is None else initial_delay
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the schedule in the background."""
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(
                self._refresher.run_forever(
                    interval=self._interval,
                    stop=self._stop,
                    retry_interval=self._retry_interval,
                    initial_delay=self._initial_delay,
                ),
                name=self.name,
            )

    async def stop(self) -> None:
        """Stop the schedule; a pass cut short is resumed by the next run."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


__all__ = [
    "UPSTREAM_OF",
    "BusinessReader",
    "CitizenReader",
    "KindReport",
    "RefreshReport",
    "RefreshSettings",
    "WatchRefreshService",
    "WatchRefresher",
    "canonical_record",
]
