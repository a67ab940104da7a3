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
create refused with "already exists" (an earlier attempt applied, its answer lost) or an update
refused as an illegal move (a snapshot replayed after the portal applied later steps: a worker
died before settling) is looked up once more and resent the right way. Snapshots never move the
portal's status — progress steps do — so a replayed snapshot is sent with the status the portal
holds.

The portal applies a progress record each time it arrives, so a step is never sent twice
blindly. A progress call whose outcome is unclear (a timeout, a lost or unverifiable answer, a
connection reset) leaves its dossiers *in doubt*: they are retried, and a claim in doubt is first
read back (``TraCuuHoSo`` lists the steps the portal holds; ``sync.readback`` matches them with
ours). Steps it holds are acknowledged without being sent; steps acknowledged before that it has
lost are replayed first; a dossier it lost or never had (also: an update or a step refused as
"not found") is created again as it was registered and its steps replayed in order.

A record that cannot be written in the portal's form, or that the portal refuses for its content,
is a dead letter of its dossier alone; a call refused as a whole is split so the others go on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import TypeVar

from pydantic import ValidationError

from connectors.base import CallContext
from connectors.errors import (
    AlreadyExists,
    BadUpstreamResponse,
    BadUpstreamSignature,
    CircuitOpen,
    ConnectorError,
    IllegalMove,
    NotFound,
    TransientError,
)
from schemas.errors import SchemaError
from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.text import STORED
from schemas.times import utc_now
from schemas.wire.portal import ProgressStep, event_to_portal
from sync import metrics
from sync.backoff import RetryPolicy
from sync.outbox import Claim, DeliveryKind, OutboxItem, Outcome
from sync.portal import BatchResult, ItemResult, PortalClient, PortalDossier
from sync.readback import compare

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


@dataclass
class ReadbackFigures:
    """What exactly-once cost this delivery so far: read-backs and what they decided."""

    readbacks: int = 0
    held: int = 0
    resent: int = 0
    replayed: int = 0
    unsettled: int = 0
    recreated: int = 0
    foreign: int = 0

    def add(self, other: ReadbackFigures) -> None:
        """Add ``other``'s counts to these."""
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


class _Failed(Exception):
    """A portal call failed as a whole; ``permanent`` says whether it can ever succeed,
    ``unclear`` whether the portal may have applied it all the same."""

    def __init__(self, error: str, *, permanent: bool, unclear: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent
        self.unclear = unclear


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
    in_doubt: bool = False
    known: bool = False
    retry_now: bool = False
    started_at: dt.datetime | None = None
    due_at: dt.datetime | None = None

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
        self.delivered.extend(item.id for item in done if item.id > 0)

    def fail(self, error: str, *, permanent: bool, doubt: bool = False, now: bool = False) -> None:
        self.failed, self.error, self.permanent = self.next_run[0], error, permanent
        self.in_doubt = self.in_doubt or doubt
        self.retry_now = now


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
        self.figures = ReadbackFigures()

    async def deliver(self, claims: Sequence[Claim]) -> list[Outcome]:
        """Deliver what can be delivered before the claims' lease ends; say what became of it."""
        outcomes, _ = await self.deliver_counted(claims)
        return outcomes

    async def deliver_counted(
        self, claims: Sequence[Claim]
    ) -> tuple[list[Outcome], ReadbackFigures]:
        """``deliver``, and what its read-backs found (also added to ``figures``)."""
        cycle = ReadbackFigures()
        batch = self._settings.portal_batch
        states = [_start(c, batch) for c in claims]
        lease_end = min((c.lease_until for c in claims), default=self._clock())
        await self._read_back([d for d in states if d.claim.in_doubt and d.going], cycle)
        while going := [d for d in states if d.going]:
            if self._clock() >= lease_end - self._settings.lease_margin:
                log.warning("sync lease nearly over; %d dossiers left for later", len(going))
                break
            await self._look_up([d for d in going if _is_sync(d) and not (d.on_portal or d.known)])
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
        self.figures.add(cycle)
        return [self._outcome(d) for d in states], cycle

    # --- portal calls ---------------------------------------------------------------------------

    def _sync_call(self, *, is_updating: bool) -> Call:
        async def call(group: list[_Dossier]) -> BatchResult:
            snapshots = [_snapshot(d) for d in group]
            ctx = self._context(group)
            return await self._portal.sync_dossiers(snapshots, is_updating=is_updating, ctx=ctx)

        return call

    async def _push_call(self, group: list[_Dossier]) -> BatchResult:
        steps = [
            ProgressStep(_event(item), d.started_at, d.due_at) for d in group for item in d.next_run
        ]
        return await self._portal.push_progress(steps, self._context(group))

    async def _send(self, group: list[_Dossier], call: Call) -> None:
        """Send ``group``'s next runs in one call and act on each dossier's results."""
        try:
            result = await _guarded(call(group))
        except _Failed as failure:
            if failure.unclear and not _is_sync(group[0]):
                # the portal may have applied the steps: read back before sending them again
                for d in group:
                    d.fail(failure.error, permanent=False, doubt=True)
            elif failure.permanent and len(group) > 1:
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
        if isinstance(error, NotFound):
            # the portal lost the dossier (or never had it): the next claim reads back, creates
            # it again and replays its steps; at once, unless this claim did just that
            d.fail(describe(error), permanent=False, doubt=True, now=not d.claim.in_doubt)
            return False
        if not _is_sync(d) and refused < len(results) - 1:
            d.in_doubt = True  # the portal applied the steps after the refused one: read back
        if d.on_portal:  # the portal is further on than this snapshot (a replay)
            wrong_way = isinstance(error, IllegalMove)
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

    async def _read_back(self, group: list[_Dossier], figures: ReadbackFigures) -> None:
        """Read back dossiers in doubt and mend their runs: drop what the portal holds, replay
        what it lost, create again what it lacks."""
        limit = asyncio.Semaphore(self._settings.lookup_concurrency)

        async def one(d: _Dossier) -> None:
            async with limit:
                ctx = CallContext.new(self._settings.client_id, issue=d.claim.dossier_code)
                figures.readbacks += 1
                metrics.READBACKS.inc()
                try:
                    found = await _guarded(self._portal.lookup_dossier(d.claim.dossier_code, ctx))
                except _NotOnPortal:
                    found = None
                except _Failed as failure:
                    d.fail(failure.error, permanent=False, doubt=True)
                    return
                try:
                    self._mend(d, found, figures)
                except _PayloadError as exc:
                    d.fail(str(exc), permanent=True, doubt=True)

        await asyncio.gather(*(one(d) for d in group))

    def _mend(self, d: _Dossier, found: PortalDossier | None, figures: ReadbackFigures) -> None:
        claim = d.claim
        pending: dict[str, OutboxItem] = {}
        for item in claim.items:
            if item.kind is DeliveryKind.PUSH_PROGRESS:
                pending.setdefault(_event(item).idempotency_key, item)
        ours = _history(claim) + [_event(item) for item in pending.values()]
        ours.sort(key=lambda event: event.sequence)
        earlier = [event for event in ours if event.idempotency_key not in pending]
        replay: list[DossierEvent]
        if found is None:
            d.on_portal, d.portal_status = False, None
            replay = earlier
            if replay or not _is_sync(d):
                d.runs.insert(0, [self._registered(d)])
            if claim.on_portal or replay:
                figures.recreated += 1
                metrics.RECREATED.inc()
            unsettled: frozenset[str] = frozenset()
        else:
            d.on_portal, d.portal_status = True, int(found.status)
            readback = compare(ours, found.steps)
            replay = [e for e in readback.missing if e.idempotency_key not in pending]
            held = {key for key in readback.held if key in pending}
            done = {pending[key].id for key in held}
            d.delivered.extend(sorted(done))
            d.runs = [run for run in (_without(run, done) for run in d.runs) if run]
            resent = sum(1 for key in pending if key not in held)
            figures.held += len(held)
            figures.resent += resent
            figures.foreign += len(readback.foreign)
            metrics.READBACK_STEPS.labels("held").inc(len(held))
            metrics.READBACK_STEPS.labels("resent").inc(resent)
            metrics.FOREIGN_STEPS.inc(len(readback.foreign))
            unsettled = readback.unsettled
            if readback.foreign:
                log.warning(
                    "sync: the portal holds %d steps lienthong never sent (kept)",
                    len(readback.foreign),
                )
        if replay:
            at = 1 if found is None and d.runs and _is_sync(d) else 0
            d.runs.insert(
                at, [_synthetic(claim, event, -(i + 1)) for i, event in enumerate(replay)]
            )
        figures.replayed += len(replay)
        metrics.READBACK_STEPS.labels("replayed").inc(len(replay))
        decided = len(unsettled & ({e.idempotency_key for e in replay} | set(pending)))
        figures.unsettled += decided
        metrics.READBACK_STEPS.labels("unsettled").inc(decided)
        d.in_doubt, d.known = False, True

    def _registered(self, d: _Dossier) -> OutboxItem:
        """A snapshot creating the dossier as it was registered (before its first step)."""
        claim = d.claim
        if claim.dossier is not None:
            payload = dict(claim.dossier)
        else:
            first = next(i for i in claim.items if i.kind is DeliveryKind.SYNC_DOSSIER)
            payload = dict(first.payload)
        if claim.registered_status is not None:
            payload["status"] = claim.registered_status
        return OutboxItem(
            id=-1_000_000,
            dossier_code=claim.dossier_code,
            kind=DeliveryKind.SYNC_DOSSIER,
            payload=payload,
            idempotency_key=f"{claim.dossier_code}@registered",
            attempts=0,
            created_at=self._clock(),
            first_attempt_at=None,
        )

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
        if d.failed is None and any(item.id < 0 for run in d.runs for item in run):
            # the lease ended before a replay was sent: the dossier stays in doubt, at once
            d.fail("replay not finished within the lease", permanent=False, doubt=True, now=True)
        if d.failed is None:
            return Outcome(d.claim, tuple(d.delivered), on_portal=d.on_portal)
        now = self._clock()
        failed = d.failed
        if failed.id < 0:  # a replayed step or snapshot: the dossier's head takes the failure
            left = [i for i in d.claim.items if i.id not in d.delivered]
            if not left:  # every item was found held: keep the last one back
                d.delivered.remove(d.claim.items[-1].id)
                left = [d.claim.items[-1]]
            failed = left[0]
            d.in_doubt = True
        failures = failed.attempts + 1
        first = failed.first_attempt_at or now
        retry_at: dt.datetime | None = None
        if not d.permanent and not self._retry.exhausted(failures, first, now):
            delay = 0.0 if d.retry_now else self._retry.delay(failures, self._rng)
            retry_at = now + dt.timedelta(seconds=delay)
        return Outcome(
            d.claim,
            tuple(d.delivered),
            failed=failed.id,
            error=d.error,
            retry_at=retry_at,
            on_portal=d.on_portal,
            in_doubt=d.in_doubt,
        )


class _NotOnPortal(Exception):
    """The portal answered a lookup with 'not found'."""


class _PayloadError(Exception):
    """A stored payload no longer reads as a canonical record (never retried)."""


async def _guarded(call: Awaitable[_T]) -> _T:
    """Await a portal call; turn its failure into ``_Failed`` (or ``_NotOnPortal``).

    Unclear: the request may have reached the portal and been applied — a timeout, a connection
    lost, an answer that does not verify or does not parse (not: the breaker refused to send).
    An answer that does not verify is retried, not split: the portal may have applied it.
    """
    try:
        return await call
    except NotFound as exc:
        raise _NotOnPortal from exc
    except (BadUpstreamSignature, BadUpstreamResponse) as exc:
        raise _Failed(describe(exc), permanent=False, unclear=True) from exc
    except ConnectorError as exc:
        transient = isinstance(exc, TransientError)
        unclear = transient and not isinstance(exc, CircuitOpen)
        raise _Failed(describe(exc), permanent=not transient, unclear=unclear) from exc
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


def _start(claim: Claim, batch: int) -> _Dossier:
    d = _Dossier(claim, _isolate(cut_runs(claim.items, batch)), claim.on_portal)
    if claim.dossier is not None:
        d.started_at = _instant(claim.dossier.get("received_at"))
        d.due_at = _instant(claim.dossier.get("due_at"))
    return d


def _isolate(runs: list[list[OutboxItem]]) -> list[list[OutboxItem]]:
    """Give a step that cannot be written in the portal's form a run of its own, so the steps
    before it go, it fails alone, and none after it reaches the portal before it."""
    cut: list[list[OutboxItem]] = []
    for run in runs:
        if run[0].kind is DeliveryKind.SYNC_DOSSIER:
            cut.append(run)
            continue
        part: list[OutboxItem] = []
        for item in run:
            if _writable(item):
                part.append(item)
                continue
            if part:
                cut.append(part)
            cut.append([item])
            part = []
        if part:
            cut.append(part)
    return cut


def _writable(item: OutboxItem) -> bool:
    try:
        event_to_portal(DossierEvent.model_validate(item.payload))
    except (SchemaError, ValueError, OverflowError):
        return False
    return True


def _instant(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _history(claim: Claim) -> list[DossierEvent]:
    events = []
    for payload in claim.history:
        try:
            events.append(DossierEvent.model_validate(payload))
        except ValidationError as exc:
            raise _PayloadError(f"dossier {claim.dossier_code}: a stored event is invalid") from exc
    return events


def _without(run: list[OutboxItem], done: set[int]) -> list[OutboxItem]:
    if run[0].kind is DeliveryKind.SYNC_DOSSIER:
        return run
    return [item for item in run if item.id not in done]


def _synthetic(claim: Claim, event: DossierEvent, item_id: int) -> OutboxItem:
    """A step acknowledged before and lost by the portal, sent again (not an outbox item)."""
    return OutboxItem(
        id=item_id,
        dossier_code=claim.dossier_code,
        kind=DeliveryKind.PUSH_PROGRESS,
        payload=event.model_dump(mode="json"),
        idempotency_key=event.idempotency_key,
        attempts=0,
        created_at=claim.lease_until,
        first_attempt_at=None,
    )


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


__all__ = ["BatchDelivery", "DeliverySettings", "ReadbackFigures", "cut_runs", "describe"]
