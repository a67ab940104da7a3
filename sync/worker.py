"""The sync worker: claim dossier heads from the outbox, deliver them, settle, repeat.

Several lanes run in one process (``concurrency``), and several processes may share one
PostgreSQL: each claim takes heads no one else holds (``FOR UPDATE SKIP LOCKED``) under a lease, so
a worker that dies leaves its claims to be taken over when the lease ends. Nothing is marked
delivered before the portal acknowledged it; a worker killed between the portal's answer and the
settle leaves its heads claimed, and the next worker to claim them treats them as in doubt: it
reads back what the portal holds and sends only what is missing (the portal applies a step each
time it gets it; a dossier already created is updated instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.times import utc_now
from store.errors import DatabaseFailure
from sync import metrics
from sync.backoff import RetryPolicy
from sync.delivery import BatchDelivery, DeliverySettings
from sync.outbox import Outbox, Outcome
from sync.portal import PortalClient

log = logging.getLogger("lienthong.sync")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How much one claim takes, how long it is leased, how many lanes, how often to poll.

    ``linger``: after a cycle that delivered less than ``full_cycle`` items, a lane waits that
    long before claiming again, so that under a steady trickle each portal call carries many
    steps instead of a few (a cycle's database and portal round trips cost about the same for
    one step as for a hundred).
    """

    dossiers_per_claim: int = 200
    items_per_dossier: int = 50
    lease: dt.timedelta = dt.timedelta(seconds=60)
    concurrency: int = 2
    idle_poll: float = 0.2
    linger: float = 0.05
    full_cycle: int = 100
    error_pause: float = 2.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)


@dataclass(frozen=True, slots=True)
class CycleResult:
    """What one claim-deliver-settle cycle did."""

    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0


def default_worker_id() -> str:
    """``host:pid:random`` — unique per worker, readable in ``claimed_by``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SyncWorker:
    """Delivers the outbox to the portal; ``run`` until stopped, ``drain`` until idle."""

    def __init__(
        self,
        outbox: Outbox,
        portal: PortalClient,
        *,
        settings: WorkerSettings | None = None,
        worker_id: str | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self._outbox = outbox
        self._settings = settings or WorkerSettings()
        self.worker_id = worker_id or default_worker_id()
        delivery = self._settings.delivery
        # stop sending when the lease is nearly over: 5 s, or a quarter of a short lease
        margin = min(delivery.lease_margin, self._settings.lease / 4)
        self._delivery = BatchDelivery(
            portal,
            retry=self._settings.retry,
            settings=dataclasses.replace(delivery, lease_margin=margin),
            clock=clock,
            rng=rng,
        )

    async def run_once(self) -> CycleResult:
        """Claim one batch, deliver it, settle it."""
        settings = self._settings
        claims = await self._outbox.claim(
            self.worker_id,
            dossiers_limit=settings.dossiers_per_claim,
            items_per_dossier=settings.items_per_dossier,
            lease=settings.lease,
        )
        if not claims:
            return CycleResult()
        started = time.perf_counter()
        outcomes, found = await self._delivery.deliver_counted(claims)
        await self._outbox.settle(outcomes)
        result = _summary(len(claims), outcomes)
        metrics.observe_cycle(result.delivered, result.retrying, result.dead, started)
        _log_dead_letters(outcomes)
        log.info(
            "sync cycle: %d dossiers, %d delivered, %d retrying, %d dead; "
            "read back %d (held %d, resent %d, replayed %d, unsettled %d, recreated %d)",
            result.claimed,
            result.delivered,
            result.retrying,
            result.dead,
            found.readbacks,
            found.held,
            found.resent,
            found.replayed,
            found.unsettled,
            found.recreated,
        )
        return result

    async def drain(self, *, max_cycles: int = 100_000) -> CycleResult:
        """Run cycles until nothing is claimable now (items backing off are left for later)."""
        total = CycleResult()
        for _ in range(max_cycles):
            result = await self.run_once()
            if not result.claimed:
                break
            total = CycleResult(
                total.claimed + result.claimed,
                total.delivered + result.delivered,
                total.retrying + result.retrying,
                total.dead + result.dead,
            )
        return total

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run ``concurrency`` lanes until ``stop`` is set; each lane finishes its batch first."""
        stop = stop or asyncio.Event()
        log.info("sync worker %s starting %d lanes", self.worker_id, self._settings.concurrency)
        await asyncio.gather(*(self._lane(stop) for _ in range(self._settings.concurrency)))
        log.info("sync worker %s stopped", self.worker_id)

    async def _lane(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                result = await self.run_once()
            except DatabaseFailure as exc:
                log.warning("sync lane: database error (%s); pausing", exc.kind)
                await _sleep_unless(stop, self._settings.error_pause)
                continue
            handled = result.delivered + result.retrying + result.dead
            if not handled:  # idle, or no headway
                await _sleep_unless(stop, self._settings.idle_poll * random.uniform(0.75, 1.25))
            elif handled < self._settings.full_cycle and self._settings.linger > 0:
                await _sleep_unless(stop, self._settings.linger)


class WorkerService:
    """The worker as a background service of the API process (``lienthong serve``)."""

    name = "sync-worker"

    def __init__(self, worker: SyncWorker, *, stop_timeout: float = 30.0) -> None:
        self.worker = worker
        self._stop_timeout = stop_timeout
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the worker's lanes in the running event loop."""
        self._stop.clear()
        self._task = asyncio.create_task(self.worker.run(self._stop), name=self.name)

    async def stop(self) -> None:
        """Let each lane finish and settle its batch; cancel after ``stop_timeout`` seconds."""
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, timeout=self._stop_timeout)
        except TimeoutError:
            log.warning("sync worker did not stop in time; its leases will expire")
        except Exception:
            log.exception("the sync worker failed")
        finally:
            self._task = None


def _log_dead_letters(outcomes: list[Outcome]) -> None:
    """One WARNING per delivery given up on, naming its dossier and the error that ended it."""
    for outcome in outcomes:
        if outcome.failed is None or outcome.retry_at is not None:
            continue
        log.warning(
            "dead letter: delivery given up on (%s)",
            outcome.error or "no reason given",
            extra={
                "upstream": "portal",
                "dossier_code": outcome.claim.dossier_code,
                "item_id": outcome.failed,
                "outcome": "dead",
            },
        )


def _summary(claimed: int, outcomes: list[Outcome]) -> CycleResult:
    delivered = sum(len(o.delivered) for o in outcomes)
    failed = [o for o in outcomes if o.failed is not None]
    dead = sum(1 for o in failed if o.retry_at is None)
    return CycleResult(claimed, delivered, len(failed) - dead, dead)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


__all__ = ["CycleResult", "SyncWorker", "WorkerService", "WorkerSettings", "default_worker_id"]
