"""Reconciliation: compare every local dossier with the portal, enqueue what is missing or behind.

Dossiers are walked in code order (keyset pages). A dossier with deliveries still pending or dead
is skipped: the worker (or an operator's retry) will bring it level. For the others the portal is
asked (``TraCuuHoSo``), a few at a time; a dossier the portal lacks is enqueued from scratch, one
whose status there differs (*behind*), or whose other fields do (*drifted*: an update the portal
lost), is enqueued again from its first step, the dossier as it is now last — steps keep their
idempotency keys, so the portal applies only those it missed. Fields are compared as the portal
holds them (its wire form: times to the second), its own last-change time aside. Lookups that
fail are counted, not retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import CallContext
from connectors.errors import ConnectorError, NotFound
from connectors.portal import PortalDossier
from schemas.models import Dossier
from schemas.wire.portal import dossier_to_portal
from store.db import create_sessionmaker, reader
from store.dossiers import (
    DossierRecord,
    SyncState,
    count_dossiers,
    dossier_page,
    get_dossier,
    requeue,
    sync_states,
)
from store.errors import DossierNotFound
from sync.portal import PortalClient

log = logging.getLogger("lienthong.sync")


@dataclass
class ReconcileReport:
    """What a reconciliation found and did."""

    checked: int = 0
    in_sync: int = 0
    missing: int = 0
    behind: int = 0
    drifted: int = 0
    in_flight: int = 0
    lookup_failed: int = 0
    enqueued: int = 0


class _Unknown:
    """Marks a dossier whose lookup failed."""


async def reconcile(
    engine: AsyncEngine,
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
    read_sessions = create_sessionmaker(reader(engine))
    write_sessions = create_sessionmaker(engine)
    async with read_sessions() as session:
        total = await count_dossiers(session)
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
                log.warning("reconcile: lookup failed (%s)", type(exc).__name__)
                return _Unknown()

    after: str | None = None
    while True:
        async with read_sessions() as session:
            page = await dossier_page(session, after=after, limit=page_size)
            states = await sync_states(session, [r.dossier.code for r in page])
        if not page:
            break
        after = page[-1].dossier.code
        settled = [r for r in page if not _in_flight(states.get(r.dossier.code))]
        report.in_flight += len(page) - len(settled)
        found = await asyncio.gather(*(look_up(record) for record in settled))
        for record, remote in zip(settled, found, strict=True):
            if isinstance(remote, _Unknown):
                report.lookup_failed += 1
                continue
            verdict = _verdict(record, remote)
            setattr(report, verdict, getattr(report, verdict) + 1)
            if verdict == "in_sync":
                continue
            missing = remote is None
            if not dry_run:
                async with write_sessions() as session, session.begin():
                    report.enqueued += await requeue(
                        session, record.dossier.code, from_scratch=missing
                    )
        report.checked += len(page)
        if on_progress is not None:
            on_progress(len(page))
    return report


async def reconcile_one(
    engine: AsyncEngine, portal: PortalClient, code: str, *, client_id: str = "adapter"
) -> str:
    """Reconcile one dossier (an operator's request); what was found: ``in_sync``, ``missing``,
    ``behind``, ``drifted`` or ``in_flight`` (deliveries still pending or dead: left to them).

    Raises ``store.errors.DossierNotFound`` when the dossier is not stored, and the connector's
    error when the portal cannot be asked.
    """
    async with create_sessionmaker(reader(engine))() as session:
        record = await get_dossier(session, code)
        if record is None:
            raise DossierNotFound(code)
        state = (await sync_states(session, [code])).get(code)
    if _in_flight(state):
        return "in_flight"
    try:
        remote = await portal.lookup_dossier(code, CallContext.new(client_id, issue=code))
    except NotFound:
        remote = None
    verdict = _verdict(record, remote)
    if verdict != "in_sync":
        async with create_sessionmaker(engine)() as session, session.begin():
            await requeue(session, code, from_scratch=remote is None)
    return verdict


def _verdict(record: DossierRecord, remote: PortalDossier | None) -> str:
    """How the portal's copy compares: the name of the report's counter it adds to."""
    if remote is None:
        return "missing"
    if int(remote.status) != int(record.dossier.status):
        return "behind"
    if _as_held(remote.dossier) != _as_held(record.dossier):
        return "drifted"
    return "in_sync"


def _as_held(dossier: Dossier) -> dict[str, str]:
    """What the portal holds of ``dossier``, but for its last-change time (the portal's own)."""
    held = dossier_to_portal(dossier)
    del held["NgayCapNhat"]
    return held


def _in_flight(state: SyncState | None) -> bool:
    return state is not None and (state.pending > 0 or state.dead > 0)


__all__ = ["ReconcileReport", "reconcile", "reconcile_one"]
