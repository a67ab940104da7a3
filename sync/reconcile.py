"""Reconciliation: compare every local dossier with the portal; report and mend what differs.

Dossiers are walked in code order (keyset pages). A dossier with deliveries still pending or dead
is skipped: the worker (or an operator's retry) will bring it level. For the others the portal is
asked (``TraCuuHoSo``), a few at a time, and its answer compared: a dossier it lacks is *missing*;
one whose status there differs is *behind*; one whose other fields differ is *drifted* (an update
it lost; fields compared as the portal holds them, times to the second, its own last-change time
aside); its steps are matched with ours (``sync.readback``): ours it lacks are *missing steps*,
those it holds that lienthong never sent are *foreign* — reported, never deleted.

Mending enqueues the dossier as it is now with its head *in doubt*: the worker reads back, creates
the dossier again if need be, sends only the steps the portal lacks (in order), then the dossier.
Nothing is sent twice — the portal applies a step each time it arrives. Lookups that fail are
counted, not retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import CallContext
from connectors.errors import ConnectorError, NotFound
from schemas.models import Dossier, DossierEvent
from schemas.wire.portal import dossier_to_portal
from store.dossiers import DossierRecord, SyncState
from store.reconciliation import Reconciliation
from sync.portal import PortalClient, PortalDossier
from sync.readback import compare

log = logging.getLogger("lienthong.sync")


@dataclass
class ReconcileReport:
    """What a reconciliation found and did."""

    checked: int = 0
    in_sync: int = 0
    missing: int = 0
    behind: int = 0
    drifted: int = 0
    steps_missing: int = 0
    dossiers_missing_steps: int = 0
    foreign_steps: int = 0
    in_flight: int = 0
    lookup_failed: int = 0
    enqueued: int = 0
    foreign: list[tuple[str, int]] = field(default_factory=list)
    #: why lookups failed: the connector's fault code (or error type) -> how many
    failure_reasons: dict[str, int] = field(default_factory=dict)


def outcome(report: ReconcileReport) -> str:
    """What a reconciliation found and did, in a few words (the counts that are not zero)."""
    names = (
        "in_sync",
        "missing",
        "behind",
        "drifted",
        "steps_missing",
        "foreign_steps",
        "in_flight",
        "lookup_failed",
        "enqueued",
    )
    found = [f"{name} {getattr(report, name)}" for name in names if getattr(report, name)]
    return ", ".join(found) or "nothing to do"


class _Unknown:
    """Marks a dossier whose lookup failed."""


async def reconcile(
    store: Reconciliation,
    portal: PortalClient,
    *,
    dry_run: bool = False,
    page_size: int = 200,
    concurrency: int = 8,
    client_id: str = "adapter",
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ReconcileReport:
    """Walk every dossier; ``on_total``/``on_progress`` feed a progress bar."""
    report = ReconcileReport()
    total = await store.count_dossiers()
    if on_total is not None:
        on_total(total)
    limit = asyncio.Semaphore(concurrency)

    async def look_up(record: DossierRecord) -> PortalDossier | _Unknown | None:
        ctx = CallContext.new(client_id, issue=record.dossier.code)
        async with limit:
            try:
                return await portal.lookup_dossier(record.dossier.code, ctx)
            except NotFound:
                return None
            except ConnectorError as exc:
                reason = exc.fault_code or type(exc).__name__
                report.failure_reasons[reason] = report.failure_reasons.get(reason, 0) + 1
                log.warning(
                    "reconcile: lookup failed",
                    extra={
                        "upstream": "portal",
                        "operation": "lookup",
                        "outcome": reason,
                        "dossier_code": record.dossier.code,
                        "message_id": ctx.message_id,
                    },
                )
                return _Unknown()

    after: str | None = None
    while True:
        page = await store.page(after=after, limit=page_size, settled=_settled)
        if not page.records:
            break
        after = page.records[-1].dossier.code
        report.in_flight += len(page.records) - len(page.settled)
        found = await asyncio.gather(*(look_up(record) for record in page.settled))
        for record, remote in zip(page.settled, found, strict=True):
            if isinstance(remote, _Unknown):
                report.lookup_failed += 1
                continue
            if not _tally(report, record, remote, page.events.get(record.dossier.code, [])):
                continue
            if not dry_run:
                report.enqueued += await store.requeue(
                    record.dossier.code, from_scratch=remote is None
                )
        report.checked += len(page.records)
        if on_progress is not None:
            on_progress(len(page.records))
    return report


async def reconcile_one(
    store: Reconciliation, portal: PortalClient, code: str, *, client_id: str = "adapter"
) -> ReconcileReport:
    """Reconcile one dossier (an operator's request), as :func:`reconcile` does each.

    A dossier with deliveries still pending or dead is left to them (``in_flight``). Raises
    ``store.errors.DossierNotFound`` when the dossier is not stored, and the connector's error
    when the portal cannot be asked.
    """
    report = ReconcileReport(checked=1)
    stored = await store.dossier(code)
    if not _settled(stored.sync):
        report.in_flight = 1
        return report
    try:
        remote = await portal.lookup_dossier(code, CallContext.new(client_id, issue=code))
    except NotFound:
        remote = None
    if _tally(report, stored.record, remote, stored.events):
        report.enqueued += await store.requeue(code, from_scratch=remote is None)
    return report


def _tally(
    report: ReconcileReport,
    record: DossierRecord,
    remote: PortalDossier | None,
    events: list[DossierEvent],
) -> bool:
    """Count what the portal's copy lacks or holds extra; whether the dossier needs mending."""
    if remote is None:
        report.missing += 1
        return True
    steps = compare(events, remote.steps)
    if steps.foreign:
        report.foreign_steps += len(steps.foreign)
        report.foreign.append((record.dossier.code, len(steps.foreign)))
    if steps.missing:
        report.steps_missing += len(steps.missing)
        report.dossiers_missing_steps += 1
    if int(remote.status) != int(record.dossier.status):
        report.behind += 1
    elif _as_held(remote.dossier) != _as_held(record.dossier):
        report.drifted += 1
    elif not steps.missing:
        report.in_sync += 1
        return False
    return True


def _as_held(dossier: Dossier) -> dict[str, Any]:
    """What the portal holds of ``dossier``, but for its last-change time (the portal's own)."""
    held = dossier_to_portal(dossier)
    del held["NgayCapNhat"]
    return held


def _settled(state: SyncState | None) -> bool:
    """Nothing pending or dead for the dossier: the worker has nothing left to bring level."""
    return state is None or (state.pending == 0 and state.dead == 0)


__all__ = ["ReconcileReport", "outcome", "reconcile", "reconcile_one"]
