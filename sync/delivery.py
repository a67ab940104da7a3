"""Deliver a batch of claimed dossiers to the portal, in order per dossier, batched across them.

Each claim holds one dossier's oldest pending items. They are cut into *runs* of one kind
(consecutive ``sync_dossier`` snapshots, of which only the newest is sent, or consecutive
``push_progress`` steps). Delivery goes round by round: in each round every dossier still going
sends its next run, and the runs of all dossiers are packed into as few portal calls as the
portal's ``data[]`` limit allows (new dossiers, updated dossiers, progress), sent concurrently. A
dossier stops at its first failure; later items wait, so a later step never overtakes an earlier
one. A portal call that fails permanently is split up to find the item at fault, so one bad record
does not make dead letters of the others.

Before a dossier is synced for the first time, the portal is asked whether it already has it
(``isUpdating``): a create whose answer was lost is then retried as an update.
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
from connectors.errors import ConnectorError, NotFound, PermanentError
from schemas.models import Dossier, DossierEvent
from store.outbox import Claim, DeliveryKind, OutboxItem, Outcome
from store.types import utc_now
from sync.backoff import RetryPolicy
from sync.portal import PortalClient

log = logging.getLogger("lienthong.sync")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How much goes into one portal call, how many lookups at once, who the caller is."""

    portal_batch: int = 100
    lookup_concurrency: int = 16
    lease_margin: dt.timedelta = dt.timedelta(seconds=5)
    client_id: str = "adapter"


class _Failed(Exception):
    """A portal call failed; ``permanent`` says whether the same call can ever succeed."""

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

    @property
    def next_run(self) -> list[OutboxItem]:
        return self.runs[0]

    @property
    def going(self) -> bool:
        return self.failed is None and bool(self.runs)

    def done(self) -> None:
        run = self.runs.pop(0)
        self.looked_again = False
        self.delivered.extend(item.id for item in run)
        if run[0].kind is DeliveryKind.SYNC_DOSSIER:
            self.on_portal = True

    def fail(self, item: OutboxItem, error: str, *, permanent: bool) -> None:
        self.failed, self.error, self.permanent = item, error, permanent


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
            for group in _packs(creates, batch, lambda d: 1):
                calls.append(self._send(group, self._sync_call(is_updating=False), creates=True))
            for group in _packs(updates, batch, lambda d: 1):
                calls.append(self._send(group, self._sync_call(is_updating=True)))
            for group in _packs(progress, batch, lambda d: len(d.next_run)):
                calls.append(self._send(group, self._push_call))
            await asyncio.gather(*calls)
        return [self._outcome(d) for d in states]

    # --- portal calls ---------------------------------------------------------------------------

    def _sync_call(self, *, is_updating: bool) -> Callable[[list[_Dossier]], Awaitable[None]]:
        async def call(group: list[_Dossier]) -> None:
            snapshots = [_dossier(d.next_run[-1]) for d in group]
            ctx = self._context(group)
            await self._portal.sync_dossiers(snapshots, is_updating=is_updating, ctx=ctx)

        return call

    async def _push_call(self, group: list[_Dossier]) -> None:
        events = [_event(item) for d in group for item in d.next_run]
        await self._portal.push_progress(events, self._context(group))

    async def _send(
        self,
        group: list[_Dossier],
        call: Callable[[list[_Dossier]], Awaitable[None]],
        *,
        creates: bool = False,
    ) -> None:
        """Send ``group``'s next runs in one call; on a permanent failure, narrow it down.

        A refused create is looked up again: its earlier attempt may have been applied with the
        answer lost (the portal then says the dossier exists), and it is resent as an update.
        """
        try:
            await _guarded(call(group))
        except _Failed as failure:
            if failure.permanent and (creates or len(group) > 1):
                if len(group) > 1:
                    log.info("portal refused a batch of %d dossiers; sending apart", len(group))
                await asyncio.gather(*(self._alone(d, call, failure) for d in group))
            elif failure.permanent and not _is_sync(group[0]) and len(group[0].next_run) > 1:
                await self._stepwise(group[0])
            else:
                for d in group:
                    d.fail(d.next_run[0], failure.error, permanent=failure.permanent)
            return
        for d in group:
            d.done()

    async def _alone(
        self, d: _Dossier, call: Callable[[list[_Dossier]], Awaitable[None]], failure: _Failed
    ) -> None:
        """Send one dossier's run by itself; a dossier sync asks the portal first, once."""
        if not _is_sync(d):
            await self._send([d], call)
            return
        if d.looked_again:
            d.fail(d.next_run[0], failure.error, permanent=True)
            return
        d.looked_again = True
        await self._look_up([d])
        if d.going:
            updating = d.on_portal
            await self._send([d], self._sync_call(is_updating=updating), creates=not updating)

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
                    d.fail(d.next_run[0], failure.error, permanent=failure.permanent)
                    return
                d.on_portal = found is not None

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


async def _guarded(call: Awaitable[_T]) -> _T:
    """Await a portal call; turn its failure into ``_Failed`` (or ``_NotOnPortal``)."""
    try:
        return await call
    except NotFound as exc:
        raise _NotOnPortal from exc
    except ConnectorError as exc:
        raise _Failed(describe(exc), permanent=isinstance(exc, PermanentError)) from exc
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


class _PayloadError(Exception):
    """A stored payload no longer reads as a canonical record (never retried)."""


def _dossier(item: OutboxItem) -> Dossier:
    try:
        return Dossier.model_validate(item.payload)
    except ValidationError as exc:
        raise _PayloadError(f"outbox item {item.id}: stored dossier is invalid") from exc


def _event(item: OutboxItem) -> DossierEvent:
    try:
        return DossierEvent.model_validate(item.payload)
    except ValidationError as exc:
        raise _PayloadError(f"outbox item {item.id}: stored event is invalid") from exc


def _is_sync(d: _Dossier) -> bool:
    return d.next_run[0].kind is DeliveryKind.SYNC_DOSSIER


def _packs(
    dossiers: list[_Dossier], limit: int, size: Callable[[_Dossier], int]
) -> list[list[_Dossier]]:
    """Group dossiers into calls of at most ``limit`` records (a run is never split)."""
    packs: list[list[_Dossier]] = []
    current: list[_Dossier] = []
    filled = 0
    for d in dossiers:
        n = size(d)
        if current and filled + n > limit:
            packs.append(current)
            current, filled = [], 0
        current.append(d)
        filled += n
    if current:
        packs.append(current)
    return packs


__all__ = ["BatchDelivery", "DeliverySettings", "cut_runs", "describe"]
