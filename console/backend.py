"""What the console shows and does, over the adapter's own parts (passed in, never built here).

The adapter's composition root builds a :class:`ConsoleBackend` from the parts it already has:
the store engine, the outbox, the upstreams' health, the readiness checks, a way to ask the portal
what it holds of a dossier and to reconcile one dossier, the access log's key ring, the message
log's key and trust store, and the registered clients. Tests build it over a real store with
small fakes for the upstream parts.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from connectors.base import ConnectorHealth
from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.times import utc_now
from schemas.wire.portal import dossier_to_portal
from security.trust import TrustStore
from store import inspect
from store.access_log import AccessLogItem, citizen_key, list_for_citizen
from store.access_log_keys import KeyRing
from store.db import create_sessionmaker, reader
from store.dossiers import SyncState, get_dossier, history, requeue, sync_state
from store.message_log import BodyCipher, VerifyReport, export_bundle, verify_log
from store.outbox import DeadLetter, QueueStats, SqlOutbox
from timeliness.apology import Apology, ApologyState, confirm_apology, list_apologies
from timeliness.classify import Classifier, TimelinessClass
from timeliness.report import Report, ReportQuery, timeliness_report
from timeliness.rules import CalendarRules

#: a readiness check as the adapter keeps them: ``(ok, short detail)``
ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]
#: what the portal holds of a dossier (its fields as the portal sends them), None when it has none
PortalLookup = Callable[[str], Awaitable[Mapping[str, str] | None]]
#: reconcile one dossier with the portal; a short word saying what was found and done
ReconcileOne = Callable[[str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class UpstreamState:
    """A national system as the overview shows it: breaker, in flight, recent figures."""

    health: ConnectorHealth
    figures: inspect.UpstreamFigures


@dataclass(frozen=True, slots=True)
class Overview:
    """The overview page: readiness, each national system, the delivery queue."""

    ready: bool
    checks: Mapping[str, tuple[bool, str]]
    upstreams: Sequence[UpstreamState]
    queue: QueueStats | None
    window_minutes: int


#: portal fields that hold personal data: compared, never shown
PERSONAL_PORTAL_FIELDS = frozenset({"ChuHoSo", "SoGiayToChuHoSo"})
MASK = "•••"


@dataclass(frozen=True, slots=True)
class FieldComparison:
    """One field of the portal record: lienthong's value, the portal's, and whether they agree
    (values of personal fields are masked; only their agreement is shown)."""

    name: str
    ours: str
    theirs: str
    same: bool


@dataclass(frozen=True, slots=True)
class PortalView:
    """What the portal holds of a dossier against what lienthong holds (``fields`` is None when
    the portal holds nothing), or unknown when the portal could not be asked."""

    fields: Sequence[FieldComparison] | None
    reachable: bool


def compare_with_portal(
    ours: Mapping[str, str], theirs: Mapping[str, str]
) -> list[FieldComparison]:
    """Field by field, personal values masked."""
    rows = []
    for name in [*ours, *(key for key in theirs if key not in ours)]:
        mine, held = ours.get(name, ""), theirs.get(name, "")
        if name in PERSONAL_PORTAL_FIELDS:
            rows.append(
                FieldComparison(name, MASK if mine else "", MASK if held else "", mine == held)
            )
        else:
            rows.append(FieldComparison(name, mine, held, mine == held))
    return rows


@dataclass(frozen=True, slots=True)
class DossierView:
    """One dossier's timeline: the dossier, its events, its deliveries, what the portal holds."""

    dossier: Dossier
    events: Sequence[DossierEvent]
    sync: SyncState | None
    deliveries: Sequence[inspect.Delivery]
    portal: PortalView


@dataclass(frozen=True, slots=True)
class AccessLogResult:
    """The lookups of one citizen, and the keyed hash that names the citizen in the audit trail."""

    citizen_key: str
    items: Sequence[AccessLogItem]


@dataclass(frozen=True, slots=True)
class TimelinessParts:
    """What the timeliness page needs: the classifier, and the rules a confirmed apology uses."""

    classifier: Classifier
    rules: CalendarRules


@dataclass(frozen=True, slots=True)
class LateDossier:
    """An open dossier overdue or at risk, as the timeliness page lists it."""

    code: str
    agency_code: str | None
    sector: str | None
    state: TimelinessClass
    due_at: dt.datetime | None


#: how far ahead of now open dossiers are looked at for "at risk" (then classified exactly)
AT_RISK_HORIZON = dt.timedelta(days=14)


@dataclass
class ConsoleBackend:
    """The console's view of the running adapter (see the module docstring)."""

    engine: AsyncEngine
    outbox: SqlOutbox
    upstream_health: Callable[[], Sequence[ConnectorHealth]]
    readiness: Mapping[str, ReadinessCheck]
    portal_lookup: PortalLookup
    reconcile_one: ReconcileOne
    access_log_keys: KeyRing
    clients: Callable[[], Sequence[Mapping[str, object]]]
    log_cipher: BodyCipher | None = None
    log_trust: TrustStore | None = None
    ca_pem: bytes | None = None
    timeliness: TimelinessParts | None = None
    window: dt.timedelta = dt.timedelta(minutes=5)
    clock: Callable[[], dt.datetime] = utc_now
    readers: async_sessionmaker[AsyncSession] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.readers = create_sessionmaker(reader(self.engine))

    async def overview(self) -> Overview:
        """Readiness, each national system's state and recent figures, the queue."""
        checks: dict[str, tuple[bool, str]] = {}
        for name, check in self.readiness.items():
            try:
                checks[name] = await check()
            except Exception as exc:  # a failing check is a finding, not an error page
                checks[name] = (False, type(exc).__name__)
        healths = list(self.upstream_health())
        async with self.readers() as session:
            figures = await inspect.upstream_figures(
                session, self.clock() - self.window, [h.name for h in healths]
            )
        by_name = {f.upstream: f for f in figures}
        upstreams = [
            UpstreamState(h, by_name.get(h.name, inspect.UpstreamFigures(h.name, 0, 0, None, None)))
            for h in healths
        ]
        try:
            queue: QueueStats | None = await self.outbox.stats()
        except Exception:  # the store is down: the readiness row says so
            queue = None
        ready = all(ok for ok, _ in checks.values()) and all(h.ready for h in healths)
        return Overview(
            ready=ready,
            checks=checks,
            upstreams=upstreams,
            queue=queue,
            window_minutes=int(self.window.total_seconds() // 60),
        )

    async def dossier(self, code: str) -> DossierView | None:
        """The dossier's timeline, or None when it is not stored."""
        async with self.readers() as session:
            record = await get_dossier(session, code)
            if record is None:
                return None
            events = await history(session, code)
            state = await sync_state(session, code)
            deliveries = await inspect.deliveries(session, code)
        try:
            held = await self.portal_lookup(code)
        except Exception:  # the portal's state is shown as unknown, the page still renders
            portal = PortalView(None, reachable=False)
        else:
            fields = None
            if held is not None:
                fields = compare_with_portal(dossier_to_portal(record.dossier), held)
            portal = PortalView(fields, reachable=True)
        return DossierView(record.dossier, events, state, deliveries, portal)

    async def resend(self, code: str) -> int:
        """Enqueue the dossier's story again (the worker sends what the portal lacks)."""
        sessions = create_sessionmaker(self.engine)
        async with sessions() as session, session.begin():
            return await requeue(session, code, from_scratch=False)

    async def dead_letters(self, limit: int = 200) -> list[DeadLetter]:
        """The dead letters, oldest first."""
        return await self.outbox.dead_letters(limit=limit)

    async def retry(self, item_id: int) -> None:
        """Retry one dead letter (``store.errors.OutboxItemNotFound`` if it is not dead)."""
        await self.outbox.retry(item_id)

    async def retry_all(self) -> int:
        """Retry every dead letter; how many."""
        return await self.outbox.retry_all()

    async def access_log(self, citizen_id: str, limit: int = 200) -> AccessLogResult:
        """Who looked ``citizen_id`` up (newest first), and the citizen's keyed hash."""
        async with self.readers() as session:
            page = await list_for_citizen(
                session, citizen_id, key=self.access_log_keys, limit=limit
            )
        return AccessLogResult(citizen_key(self.access_log_keys.current, citizen_id), page.items)

    async def verify_log(self) -> VerifyReport:
        """Check the whole message log now (bodies and signatures when the keys are here)."""
        return await verify_log(self.engine, cipher=self.log_cipher, trust=self.log_trust)

    async def exchanges(
        self, *, dossier_code: str | None = None, message_id: str | None = None
    ) -> list[inspect.Exchange]:
        """The newest exchanges of a dossier or a message id."""
        async with self.readers() as session:
            return await inspect.exchanges(
                session, dossier_code=dossier_code, message_id=message_id
            )

    async def timeliness_report(self, query: ReportQuery) -> Report:
        """The on-time report (computed by the database)."""
        counts_paused = self.timeliness is not None and (
            self.timeliness.classifier.counts_paused_time
        )
        async with self.readers() as session:
            return await timeliness_report(
                session, query, self.clock(), counts_paused_time=counts_paused
            )

    async def late_dossiers(self, limit: int = 200) -> list[LateDossier]:
        """Open dossiers overdue or at risk now, soonest due first."""
        if self.timeliness is None:
            return []
        now = self.clock()
        async with self.readers() as session:
            found = await inspect.open_due_before(session, now + AT_RISK_HORIZON, limit=limit)
        late = []
        for item in found:
            seen = self.timeliness.classifier.classify(item.facts, DossierStatus(item.status), now)
            if seen.state in (TimelinessClass.OVERDUE, TimelinessClass.AT_RISK):
                late.append(
                    LateDossier(item.code, item.agency_code, item.sector, seen.state, seen.due_at)
                )
        return late

    async def draft_apologies(self, limit: int = 200) -> list[Apology]:
        """Apologies drafted and waiting for the one-stop shop's confirmation."""
        async with self.readers() as session:
            return await list_apologies(session, state=ApologyState.DRAFT, limit=limit)

    async def confirm_apology(self, dossier_code: str, apology_id: int, operator: str) -> Apology:
        """Confirm a drafted apology: the due date moves and is queued for the portal."""
        rules = self.timeliness.rules if self.timeliness is not None else None
        async with create_sessionmaker(self.engine)() as session, session.begin():
            confirmed, _ = await confirm_apology(
                session,
                dossier_code,
                apology_id,
                by=f"console:{operator}",
                now=self.clock(),
                rules=rules,
            )
        return confirmed

    async def bundle(self, message_id: str) -> bytes:
        """The evidence bundle (zip) of ``message_id``."""
        with tempfile.TemporaryDirectory(prefix="lienthong-bundle-") as folder:
            out = Path(folder) / "bundle.zip"
            await export_bundle(
                self.engine, message_id, out, cipher=self.log_cipher, ca_pem=self.ca_pem
            )
            return out.read_bytes()


__all__ = [
    "AccessLogResult",
    "ConsoleBackend",
    "DossierView",
    "FieldComparison",
    "LateDossier",
    "Overview",
    "PortalLookup",
    "PortalView",
    "ReadinessCheck",
    "ReconcileOne",
    "TimelinessParts",
    "UpstreamState",
    "compare_with_portal",
]
