"""Deliver a batch of claimed dossiers to the portal, in order per dossier, batched across them.

Each claim holds one dossier's oldest pending items. They are cut into *runs* of one kind
(consecutive ``sync_dossier`` snapshots, of which only the newest is sent, or consecutive
``push_progress`` steps). Delivery goes round by round: in each round every dossier still going
sends its next run, and the runs of all dossiers are packed into as few portal calls as the
portal's ``data[]`` limit allows (new dossiers, updated dossiers, progress), sent concurrently.

The portal answers one result per record. A dossier's items are delivered up to its first refused
record; that one fails (retried later when the refusal is transient, a dead letter when it is
permanent) and the items after it wait, so a later step never overtakes an earlier one. A call
that fails as a whole fails every dossier in it; when the failure is permanent the dossiers are
sent apart, and a progress run step by step, so one bad record does not condemn the others.

Before a dossier is created the portal is asked whether it has it already (``isUpdating``). A
create refused with "already exists" (an earlier attempt applied, its answer lost), an update
refused with "not found", or an update refused as an illegal move (a snapshot replayed after the
portal applied later steps: a worker died before settling) is looked up once more and resent the
right way. Snapshots never move the portal's status — progress steps do — so a replayed snapshot
is sent with the status the portal holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import ValidationError

from connectors.base import CallContext
from connectors.errors import (
    AlreadyExists,
    ConnectorError,
    IllegalMove,
    NotFound,
    TransientError,
)
from connectors.portal import BatchResult, ItemResult
from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.text import STORED
from store.outbox import Claim, DeliveryKind, OutboxItem, Outcome
from store.types import utc_now
from sync.backoff import RetryPolicy
from sync.portal import PortalClient

log = logging.getLogger("lienthong.sync")
_T = TypeVar("_T")

Call = Callable[[list["_Dossier"]], Awaitable[BatchResult]]


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How much goes into one portal call, how many lookups at once, who the caller is."""

    portal_batch: int = 100
    lookup_concurrency: int = 16
    lease_margin: dt.timedelta = dt.timedelta(seconds=5)
    client_id: str = "adapter"


class _Failed(Exception):
    """A portal call failed as a whole; ``permanent`` says whether it can ever succeed."""

    def __init__(self, error: str, *, permanent: bool) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent


@dataclass
class _Dossier:
    """Delivery progress of one claim."""

    claim: Claim
    runs: list[list[OutboxItem]]
    on_portal: bool
    delivered: list[int] = field(default_factory=list)
    failed: OutboxItem | None = None
    error: str | None = None
    permanent: bool = False
    looked_again: bool = False
    portal_status: int | None = None

    @property
    def next_run(self) -> list[OutboxItem]:
        return self.runs[0]

    @property
    def going(self) -> bool:
        return self.failed is None and bool(self.runs)

    @property
    def records(self) -> int:
        """How many records the next run puts in a portal call."""
        return 1 if _is_sync(self) else len(self.next_run)

    def done(self, count: int | None = None) -> None:
        """The next run's first ``count`` records (all by default) were acknowledged."""
        run = self.runs[0]
        if count is None or _is_sync(self) or count >= len(run):
            self.runs.pop(0)
            done, self.looked_again, self.portal_status = run, False, None
            if run[0].kind is DeliveryKind.SYNC_DOSSIER:
                self.on_portal = True
        else:
            done, self.runs[0] = run[:count], run[count:]
        self.delivered.extend(item.id for item in done)

    def fail(self, error: str, *, permanent: bool) -> None:
        self.failed, self.error, self.permanent = self.next_run[0], error, permanent


def cut_runs(items: Sequence[OutboxItem], max_run: int) -> list[list[OutboxItem]]:
    """Consecutive items of one kind, at most ``max_run`` progress steps per run."""
    runs: list[list[OutboxItem]] = []
    for item in items:
        last = runs[-1] if runs else None
        fits = last is not None and (item.kind is DeliveryKind.SYNC_DOSSIER or len(last) < max_run)
        if last is not None and fits and last[0].kind is item.kind:
            last.append(item)
            continue
        runs.append([item])
    return runs


class BatchDelivery:
    """Turns claims into outcomes by calling the portal; never touches the database."""

    def __init__(
        self,
        portal: PortalClient,
        *,
        retry: RetryPolicy | None = None,
        settings: DeliverySettings | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self._portal = portal
        self._retry = retry or RetryPolicy()
        self._settings = settings or DeliverySettings()
        self._clock = clock
        self._rng = rng or random.Random()

    async def deliver(self, claims: Sequence[Claim]) -> list[Outcome]:
        """Deliver what can be delivered before the claims' lease ends; say what became of it."""
        batch = self._settings.portal_batch
        states = [_Dossier(c, cut_runs(c.items, batch), c.on_portal) for c in claims]
        lease_end = min((c.lease_until for c in claims), default=self._clock())
        while going := [d for d in states if d.going]:
            if self._clock() >= lease_end - self._settings.lease_margin:
                log.warning("sync lease nearly over; %d dossiers left for later", len(going))
                break
            await self._look_up([d for d in going if _is_sync(d) and not d.on_portal])
            going = [d for d in going if d.going]
            creates = [d for d in going if _is_sync(d) and not d.on_portal]
            updates = [d for d in going if _is_sync(d) and d.on_portal]
            progress = [d for d in going if not _is_sync(d)]
            calls: list[Awaitable[None]] = []
            for group in _packs(creates, batch):
                calls.append(self._send(group, self._sync_call(is_updating=False)))
            for group in _packs(updates, batch):
                calls.append(self._send(group, self._sync_call(is_updating=True)))
            for group in _packs(progress, batch):
                calls.append(self._send(group, self._push_call))
            await asyncio.gather(*calls)
        return [self._outcome(d) for d in states]

    # --- portal calls ---------------------------------------------------------------------------

    def _sync_call(self, *, is_updating: bool) -> Call:
        async def call(group: list[_Dossier]) -> BatchResult:
            snapshots = [_snapshot(d) for d in group]
            ctx = self._context(group)
            return await self._portal.sync_dossiers(snapshots, is_updating=is_updating, ctx=ctx)

        return call

    async def _push_call(self, group: list[_Dossier]) -> BatchResult:
        events = [_event(item) for d in group for item in d.next_run]
        return await self._portal.push_progress(events, self._context(group))

    async def _send(self, group: list[_Dossier], call: Call) -> None:
        """Send ``group``'s next runs in one call and act on each dossier's results."""
        try:
            result = await _guarded(call(group))
        except _Failed as failure:
            if failure.permanent and len(group) > 1:
                log.info("portal refused a call of %d dossiers; sending them apart", len(group))
                await asyncio.gather(*(self._apart(d, call) for d in group))
            elif failure.permanent and not _is_sync(group[0]) and len(group[0].next_run) > 1:
                await self._stepwise(group[0])
            else:
                for d in group:
                    d.fail(failure.error, permanent=failure.permanent)
            return
        if len(result.items) != sum(d.records for d in group):
            for d in group:
                d.fail("BadUpstreamResponse: one result per record expected", permanent=False)
            return
        again: list[_Dossier] = []
        results = iter(result.items)
        for d in group:
            mine = [next(results) for _ in range(d.records)]
            if self._apply(d, mine):
                again.append(d)
        await asyncio.gather(*(self._once_more(d) for d in again))

    def _apply(self, d: _Dossier, results: list[ItemResult]) -> bool:
        """Deliver up to the first refused record; True when the dossier should be re-asked."""
        refused = next((i for i, r in enumerate(results) if r.error is not None), None)
        if refused is None:
            d.done()
            return False
        if refused:
            d.done(refused)
        error = results[refused].error
        assert error is not None
        if d.on_portal:  # the portal lost it, or is further on than this snapshot (a replay)
            wrong_way = isinstance(error, NotFound | IllegalMove)
        else:  # created before, its answer lost
            wrong_way = isinstance(error, AlreadyExists)
        if _is_sync(d) and wrong_way and not d.looked_again:
            return True
        d.fail(describe(error), permanent=not isinstance(error, TransientError))
        return False

    async def _once_more(self, d: _Dossier) -> None:
        """Ask the portal again whether it holds the dossier, then sync it the right way."""
        d.looked_again = True
        await self._look_up([d])
        if d.going:
            await self._send([d], self._sync_call(is_updating=d.on_portal))

    async def _apart(self, d: _Dossier, call: Call) -> None:
        """Send ``d`` by itself; a dossier sync asks the portal first whether it has it."""
        if _is_sync(d):
            if not d.looked_again:
                d.looked_again = True
                await self._look_up([d])
                if not d.going:
                    return
            call = self._sync_call(is_updating=d.on_portal)
        await self._send([d], call)

    async def _stepwise(self, d: _Dossier) -> None:
        """Push a dossier's progress run one step at a time, stopping at the step at fault."""
        run = d.runs.pop(0)
        d.runs[:0] = [[item] for item in run]
        for _ in run:
            if not d.going:
                return
            await self._send([d], self._push_call)

    async def _look_up(self, group: list[_Dossier]) -> None:
        """Ask the portal whether it has each dossier already (to choose ``isUpdating``)."""
        limit = asyncio.Semaphore(self._settings.lookup_concurrency)

        async def one(d: _Dossier) -> None:
            async with limit:
                ctx = CallContext.new(self._settings.client_id, issue=d.claim.dossier_code)
                try:
                    found = await _guarded(self._portal.lookup_dossier(d.claim.dossier_code, ctx))
                except _NotOnPortal:
                    found = None
                except _Failed as failure:
                    d.fail(failure.error, permanent=failure.permanent)
                    return
                d.on_portal = found is not None
                d.portal_status = None if found is None else int(found.status)

        await asyncio.gather(*(one(d) for d in group))

    def _context(self, group: list[_Dossier]) -> CallContext:
        issue = group[0].claim.dossier_code if len(group) == 1 else None
        return CallContext.new(self._settings.client_id, issue=issue)

    # --- outcomes -------------------------------------------------------------------------------

    def _outcome(self, d: _Dossier) -> Outcome:
        if d.failed is None:
            return Outcome(d.claim, tuple(d.delivered), on_portal=d.on_portal)
        now = self._clock()
        failures = d.failed.attempts + 1
        first = d.failed.first_attempt_at or now
        retry_at: dt.datetime | None = None
        if not d.permanent and not self._retry.exhausted(failures, first, now):
            retry_at = now + dt.timedelta(seconds=self._retry.delay(failures, self._rng))
        return Outcome(
            d.claim,
            tuple(d.delivered),
            failed=d.failed.id,
            error=d.error,
            retry_at=retry_at,
            on_portal=d.on_portal,
        )


class _NotOnPortal(Exception):
    """The portal answered a lookup with 'not found'."""


class _PayloadError(Exception):
    """A stored payload no longer reads as a canonical record (never retried)."""


async def _guarded(call: Awaitable[_T]) -> _T:
    """Await a portal call; turn its failure into ``_Failed`` (or ``_NotOnPortal``)."""
    try:
        return await call
    except NotFound as exc:
        raise _NotOnPortal from exc
    except ConnectorError as exc:
        raise _Failed(describe(exc), permanent=not isinstance(exc, TransientError)) from exc
    except _PayloadError as exc:
        raise _Failed(str(exc), permanent=True) from exc
    except Exception as exc:  # a bug or an unexpected library error: retried, within budget
        log.exception("unexpected error while calling the portal")
        raise _Failed(f"unexpected {type(exc).__name__}", permanent=False) from exc


def describe(exc: ConnectorError) -> str:
    """A short error for the outbox: class, fault code, HTTP status, message (no payload)."""
    parts = [type(exc).__name__]
    if exc.fault_code:
        parts.append(f"[{exc.fault_code}]")
    if exc.status:
        parts.append(f"(HTTP {exc.status})")
    return f"{' '.join(parts)}: {exc.message}"[:1000]


def _snapshot(d: _Dossier) -> Dossier:
    """The newest snapshot of the run; it never moves the status the portal holds (only progress
    steps do), so a snapshot replayed after the portal moved on does not pull the status back."""
    dossier = _dossier(d.next_run[-1])
    if d.on_portal and d.portal_status is not None and d.portal_status != int(dossier.status):
        log.info("portal status differs from a replayed snapshot; keeping the portal's")
        return dossier.model_copy(update={"status": DossierStatus(d.portal_status)})
    return dossier


def _dossier(item: OutboxItem) -> Dossier:
    try:
        return Dossier.model_validate(item.payload, context=STORED)
    except ValidationError as exc:
        raise _PayloadError(f"outbox item {item.id}: stored dossier is invalid") from exc


def _event(item: OutboxItem) -> DossierEvent:
    try:
        return DossierEvent.model_validate(item.payload, context=STORED)
    except ValidationError as exc:
        raise _PayloadError(f"outbox item {item.id}: stored event is invalid") from exc


def _is_sync(d: _Dossier) -> bool:
    return d.next_run[0].kind is DeliveryKind.SYNC_DOSSIER


def _packs(dossiers: list[_Dossier], limit: int) -> list[list[_Dossier]]:
    """Group dossiers into calls of at most ``limit`` records (a run is never split)."""
    packs: list[list[_Dossier]] = []
    current: list[_Dossier] = []
    filled = 0
    for d in dossiers:
        if current and filled + d.records > limit:
            packs.append(current)
            current, filled = [], 0
        current.append(d)
        filled += d.records
    if current:
        packs.append(current)
    return packs


__all__ = ["BatchDelivery", "DeliverySettings", "cut_runs", "describe"]
