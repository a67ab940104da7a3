"""The chain worker: claim steps, take each to its agency (reading back first when in doubt),
settle what the agencies answered, repeat.

One cycle claims up to ``steps_per_claim`` steps (of different chains: a chain has one step
claimable at a time), sends or polls them concurrently, and settles them in one transaction.
Several workers (lanes, processes) share the store: a claim takes steps no one else holds, under
a lease; a worker killed mid-cycle leaves its steps to be taken again when the lease ends, and
the next worker reads each back at its agency before sending it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from chains.definitions import ChainDefinition, step_inputs
from chains.errors import InvalidFiling
from chains.queue import ClaimedStep, SettleFigures, SqlChainQueue, StepOutcome
from connectors.agencies import AgencyAnswer
from connectors.base import CallContext
from connectors.errors import ConnectorError, TransientError
from schemas.times import utc_now
from store.errors import DatabaseFailure
from sync.backoff import RetryPolicy
from sync.delivery import describe
from sync.worker import default_worker_id

log = logging.getLogger("lienthong.chains")


class AgencyClient(Protocol):
    """What the worker needs of an agency system (``connectors.agencies.AgencyConnector``)."""

    async def submit(
        self, reference: str, action: str, fields: dict[str, Any], ctx: CallContext
    ) -> AgencyAnswer:
        """Send a request; the agency's answer."""
        ...

    async def find(self, reference: str, ctx: CallContext) -> AgencyAnswer | None:
        """What the agency holds under ``reference``, or None."""
        ...


@dataclass(frozen=True, slots=True)
class ChainWorkerSettings:
    """How many steps a claim takes, the lease, lanes, polling, the retry budget."""

    steps_per_claim: int = 100
    lease: dt.timedelta = dt.timedelta(seconds=60)
    concurrency: int = 1
    agency_concurrency: int = 32
    idle_poll: float = 0.2
    error_pause: float = 2.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    client_id: str = "adapter"


class ChainWorker:
    """Takes chain steps to the agency systems; ``run`` until stopped, ``drain`` until idle."""

    def __init__(
        self,
        queue: SqlChainQueue,
        agencies: Mapping[str, AgencyClient],
        definitions: Mapping[str, ChainDefinition],
        *,
        settings: ChainWorkerSettings | None = None,
        worker_id: str | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self._queue = queue
        self._agencies = agencies
        self._definitions = definitions
        self._settings = settings or ChainWorkerSettings()
        self.worker_id = worker_id or default_worker_id()
        self._clock = clock
        self._rng = rng or random.Random()
        self._limit = asyncio.Semaphore(self._settings.agency_concurrency)

    async def run_once(self) -> SettleFigures:
        """Claim one batch of steps, take them to their agencies, settle."""
        steps = await self._queue.claim(
            self.worker_id, limit=self._settings.steps_per_claim, lease=self._settings.lease
        )
        if not steps:
            return SettleFigures()
        outcomes = await asyncio.gather(*(self._deliver(step) for step in steps))
        figures = await self._queue.settle(outcomes)
        log.info(
            "chain cycle: %d steps, %d done, %d refused, %d at agency, %d retrying, %d dead",
            len(steps),
            figures.done,
            figures.refused,
            figures.waiting_at_agency,
            figures.retrying,
            figures.dead,
        )
        return figures

    async def drain(self, *, max_cycles: int = 10_000) -> int:
        """Run cycles until nothing is claimable now; return how many steps were settled."""
        settled = 0
        for _ in range(max_cycles):
            figures = await self.run_once()
            handled = _handled(figures)
            if not handled:
                break
            settled += handled
        return settled

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run ``concurrency`` lanes until ``stop`` is set."""
        stop = stop or asyncio.Event()
        await asyncio.gather(*(self._lane(stop) for _ in range(self._settings.concurrency)))

    async def _lane(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                figures = await self.run_once()
            except DatabaseFailure as exc:
                log.warning("chain lane: database error (%s); pausing", exc.kind)
                await _sleep_unless(stop, self._settings.error_pause)
                continue
            if not _handled(figures):
                await _sleep_unless(stop, self._settings.idle_poll * random.uniform(0.75, 1.25))

    async def _deliver(self, step: ClaimedStep) -> StepOutcome:
        agency = self._agencies.get(step.agency)
        if agency is None:
            return StepOutcome(step, error=f"no connector for agency {step.agency}")
        spec = self._definitions[step.chain_id].steps[step.position - 1]
        ctx = CallContext.new(self._settings.client_id, issue=step.dossier_code)
        try:
            async with self._limit:
                answer = await agency.find(step.reference, ctx) if step.taken_before else None
                if answer is None:
                    inputs = step_inputs(spec, step.subject, step.results)
                    answer = await agency.submit(step.reference, spec.action, inputs, ctx)
        except InvalidFiling as exc:
            return StepOutcome(step, error=f"InvalidFiling: {exc.message}")
        except ConnectorError as exc:
            return self._failed(step, describe(exc), transient=isinstance(exc, TransientError))
        except Exception as exc:  # a bug or an unexpected library error: retried, within budget
            log.exception("unexpected error while calling agency %s", step.agency)
            return self._failed(step, f"unexpected {type(exc).__name__}", transient=True)
        return StepOutcome(step, answer=answer)

    def _failed(self, step: ClaimedStep, error: str, *, transient: bool) -> StepOutcome:
        now = self._clock()
        failures = step.failures + 1
        retry = self._settings.retry
        if not transient or retry.exhausted(failures, step.first_attempt_at or now, now):
            return StepOutcome(step, error=error)
        delay = dt.timedelta(seconds=retry.delay(failures, self._rng))
        return StepOutcome(step, error=error, retry_at=now + delay)


class ChainWorkerService:
    """The chain worker as a background service of the API process (``lienthong serve``)."""

    name = "chain-worker"

    def __init__(self, worker: ChainWorker, *, stop_timeout: float = 10.0) -> None:
        self.worker = worker
        self._stop_timeout = stop_timeout
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the worker's lanes in the running event loop."""
        self._stop.clear()
        self._task = asyncio.create_task(self.worker.run(self._stop), name=self.name)

    async def stop(self) -> None:
        """Let each lane finish its batch; cancel after ``stop_timeout`` seconds."""
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, timeout=self._stop_timeout)
        except TimeoutError:
            log.warning("chain worker did not stop in time; its leases will expire")
        except Exception:
            log.exception("the chain worker failed")
        finally:
            self._task = None


def _handled(figures: SettleFigures) -> int:
    return (
        figures.done
        + figures.refused
        + figures.waiting_at_agency
        + figures.retrying
        + figures.dead
        + figures.lost_lease
    )


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


__all__ = ["AgencyClient", "ChainWorker", "ChainWorkerService", "ChainWorkerSettings"]
