"""Everything a running adapter holds, built once by :mod:`lienthong.bootstrap`.

Routes reach it as ``request.app.state.container`` and ask the store through its faces
(``dossier_reads``, ``change_reads``, ``access_log_book``, ``dossier_writes``, ``access_log``)
and the domains through their desks (``watch_desk``, ``chain_desk``, ``timeliness_desk``), which
open their own sessions: the container holds no engine and no session. The upstreams
are typed by the small protocols below (what the routes call), so tests can pass fakes; bootstrap
passes the real connectors. ``services`` are started and stopped with the app (the sync worker,
the sandbox mock server), in order and in reverse.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from starlette.types import ASGIApp

from adapter_api.clients import ClientRegistry
from adapter_api.issues import IssueDirectory
from adapter_api.metrics import Metrics
from adapter_api.push_parts import Push
from adapter_api.rate_limits import RateLimiter
from chains.desk import ChainDesk
from connectors.base import CallContext, ConnectorHealth
from connectors.portal import PortalConnector
from schemas.models import Business, Citizen
from security.http_signatures import HttpSigner, HttpVerifier
from store.access_log_book import AccessLogBook
from store.access_log_keys import KeyRing
from store.dossier_queue import DossierQueue
from store.dossier_reads import DossierReads
from store.logs import AccessLogWriter, LookupLogs
from store.watches.change_reads import ChangeReads
from timeliness.desk import TimelinessDesk
from timeliness.service import Timeliness
from watches.desk import WatchDesk


class Upstream(Protocol):
    """What every upstream offers the API: a name and its health."""

    @property
    def name(self) -> str: ...

    def health(self) -> ConnectorHealth: ...


class PopulationPort(Upstream, Protocol):
    """The population database as the citizen routes use it."""

    async def get_citizen(self, citizen_id: str, ctx: CallContext) -> Citizen: ...

    async def verify_citizen(
        self, citizen_id: str, full_name: str, date_of_birth: date, ctx: CallContext
    ) -> bool: ...


class RegistryPort(Upstream, Protocol):
    """The business registry as the business routes use it."""

    async def get_business(self, tax_code: str, ctx: CallContext) -> Business: ...


class Service(Protocol):
    """Something started with the app and stopped with it (worker, sandbox mock server)."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


#: A readiness check: ``(ok, detail)``; detail is a short code, never a secret or payload.
ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass
class Container:
    """The wired adapter: settings, callers, signatures, upstreams, store, background services."""

    #: the root's ``lienthong.settings.Settings`` (typed loosely: the HTTP face imports no root)
    settings: Any
    clients: ClientRegistry
    metrics: Metrics
    signer: HttpSigner
    verifier: HttpVerifier
    population: PopulationPort
    registry: RegistryPort
    upstreams: Sequence[Upstream]
    #: the access log's key ring as loaded at start (a rotation takes effect at the next start)
    access_log_keys: KeyRing
    #: the dossier routes' reads and the purposes of citizen lookups (on the read engine)
    dossier_reads: DossierReads
    #: the change feed's pages
    change_reads: ChangeReads
    #: the access log's pages, and the change feed's entries (one transaction per page)
    access_log_book: AccessLogBook
    #: the message log and the access log on one group commit (one transaction for both)
    logs: LookupLogs
    #: the dossier routes' group commit (concurrent writes share one transaction)
    dossier_writes: DossierQueue
    #: the callers' watches of national records
    watch_desk: WatchDesk
    #: the timeliness report and the apologies
    timeliness_desk: TimelinessDesk
    portal: PortalConnector | None = None
    #: rate limits per client and operation, the verify budget; none counted when absent
    rate_limiter: RateLimiter | None = None
    #: inter-agency chains as the routes take them in and show them; None when not built
    chain_desk: ChainDesk | None = None
    #: working-day calendar, deadline rules, classifier and apology policy
    timeliness: Timeliness | None = None
    #: webhooks and notices (subscriptions, outboxes, the service that delivers)
    push: Push | None = None
    #: the operator console's ASGI app, mounted at ``/console`` (None when disabled)
    console: ASGIApp | None = None
    services: list[Service] = field(default_factory=list)
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    issues: IssueDirectory = field(init=False)
    access_log: AccessLogWriter = field(init=False)

    def __post_init__(self) -> None:
        self.issues = IssueDirectory(self.dossier_reads)
        self.access_log = self.logs.access_log

    async def start(self) -> None:
        """Start the background services in order."""
        for service in self.services:
            await service.start()

    async def stop(self) -> None:
        """Stop the services in reverse order, then release connections and the engine."""
        for service in reversed(self.services):
            await service.stop()
        await self.access_log.aclose()
        await self.dossier_writes.aclose()
        for close in reversed(self.closers):
            await close()


__all__ = [
    "Container",
    "PopulationPort",
    "ReadinessCheck",
    "RegistryPort",
    "Service",
    "Upstream",
]
