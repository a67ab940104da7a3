"""The one place that wires the adapter: settings in, a :class:`Container` out.

:func:`prepare` (or :func:`prepare_async` inside a running loop) does what touches the disk once:
in sandbox mode it creates the development keys on first run; it makes the data folder and
applies the store's migrations. :func:`build_container` then builds, without network I/O:

* the API clients (the clients file, or in sandbox the dev PKI's ``province-app``, ``ministry``
  and ``integrator``), the request verifier (keys of the registered clients, validated against
  the trust store; an in-memory replay cache) and the response signer (party ``adapter``);
* the store engine and sessions, the message log (the connectors' exchange recorder);
* the three connectors (``connectors.factory``), pointed at the sandbox mocks unless URLs are set;
* the services started with the app: in sandbox the mock endpoints on ``mock_port`` (first, so
  the connectors find them), then the outbox worker;
* readiness checks (keys loadable, store reachable) and the metrics' scrape-time gauges.

``lienthong.preflight`` runs before :func:`prepare`, so that what cannot work fails in one
line before anything touches a database: a port in use, unreadable keys, a bad clients file.
The commands build their parts here too: :func:`portal_connector` (``sync run``,
``sync reconcile``) and :func:`upstream_connectors` (``records``), from the same settings.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp

from adapter_api.clients import (
    RateLimit,
)
from adapter_api.container import Container, ReadinessCheck
from adapter_api.metrics import BREAKER_VALUES, MeteredRecorder, Metrics, MetricsRefresh
from adapter_api.rate_limits import RateLimiter
from chains.desk import ChainDesk
from chains.runtime import ChainOptions, ChainRuntime, build_agencies, sandbox_agency_urls
from chains.worker import ChainWorkerService, ChainWorkerSettings
from connectors.base import BreakerSettings, CallContext, RetrySettings, Timeouts
from connectors.errors import NotFound
from connectors.factory import Connectors, ConnectorsConfig, build_connectors, build_portal
from connectors.population import PopulationConnector
from connectors.portal import PortalConnector
from connectors.registry import RegistryConnector
from console import (
    Accounts,
    AuditTrail,
    Console,
    ConsoleBackend,
    ConsoleSettings,
    LockoutPolicy,
    SessionManager,
    SessionPolicy,
)
from console.backend import TimelinessParts
from lienthong.background import EmbeddedServer
from lienthong.preflight import StartupError, check_keys, load_client_registry
from lienthong.push_wiring import build_push
from lienthong.settings import Settings
from mock_endpoints.app import create_mock_app
from mock_endpoints.settings import MockSettings
from schemas.times import utc_now
from schemas.wire.portal import dossier_to_portal
from security.http_signatures import HttpSigner, HttpVerifier, StaticKeyResolver
from security.keys import load_party
from security.pki import dev_pki_exists, init_dev_pki
from security.rate_counters import MemoryRateCounter, RateCounter, RedisRateCounter
from security.replay import MemoryReplayCache, RedisReplayCache, ReplayCache
from security.trust import TrustStore
from security.tsa_client import TsaClient
from store.access_log_book import AccessLogBook
from store.access_log_keys import KeyRing, load_access_log_keys
from store.db import (
    create_engine,
    create_sessionmaker,
    normalize_url,
    reader,
    upgrade,
    upgrade_async,
)
from store.dossier_queue import DossierQueue
from store.dossier_reads import DossierReads
from store.log_keys import message_log_key
from store.logs import LookupLogs
from store.message_log import BodyCipher, KeyFolderCertificates, SqlMessageLog
from store.message_log.anchors import AnchorService
from store.outbox import SqlOutbox
from store.reconciliation import Reconciliation
from store.sessions import SessionRunner
from store.watches.change_reads import ChangeReads
from store.watches.refresh_runs import last_refresh_finished
from sync.backoff import RetryPolicy
from sync.reconcile import outcome as reconcile_outcome
from sync.reconcile import reconcile_one
from sync.worker import SyncWorker, WorkerService, WorkerSettings
from timeliness.desk import TimelinessDesk
from timeliness.procedures import ProcedureDeadline
from timeliness.service import CatalogueSource, Timeliness, TimelinessService
from watches.desk import WatchDesk
from watches.purposes import ClientWatchPolicy
from watches.rate_budget import RateBudget
from watches.refresh import RefreshSettings, WatchRefresher, WatchRefreshService

log = logging.getLogger("lienthong.api")


def rate_counter(settings: Settings) -> RateCounter:
    """Counts shared through Redis when ``replay_cache_url`` is set, else kept in memory."""
    if settings.replay_cache_url:
        return RedisRateCounter.from_url(settings.replay_cache_url, prefix=settings.rate_key_prefix)
    return MemoryRateCounter()


def rate_limiter(settings: Settings, counter: RateCounter, access_log_keys: KeyRing) -> RateLimiter:
    """The rate limits of the settings over ``counter``; citizen IDs hashed with a key derived
    from the access log's current key (the same on every host that shares the key folder)."""
    citizen_key = hmac.new(access_log_keys.current, b"lienthong verify budget", "sha256").digest()
    return RateLimiter(
        counter,
        default=RateLimit(settings.rate_limit_requests, settings.rate_limit_window_seconds),
        verify_budget=settings.verify_daily_budget,
        citizen_key=citizen_key,
    )


def replay_cache(settings: Settings) -> ReplayCache:
    """Nonces shared through Redis when ``replay_cache_url`` is set, else kept in memory."""
    if settings.replay_cache_url:
        return RedisReplayCache.from_url(settings.replay_cache_url)
    return MemoryReplayCache()


def _prepare_folders(settings: Settings) -> None:
    if settings.sandbox and not dev_pki_exists(settings.keys_dir):
        log.info("creating development keys in %s", settings.keys_dir)
        init_dev_pki(settings.keys_dir)
    if not settings.database_url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)


def prepare(settings: Settings) -> None:
    """Keys (sandbox, first run), data folder, migrations; call outside an event loop."""
    _prepare_folders(settings)
    if settings.migrate_on_start:
        upgrade(normalize_url(settings.resolved_database_url))


async def prepare_async(settings: Settings) -> None:
    """:func:`prepare` for callers already inside an event loop."""
    _prepare_folders(settings)
    if settings.migrate_on_start:
        await upgrade_async(normalize_url(settings.resolved_database_url))


def connectors_config(settings: Settings) -> ConnectorsConfig:
    """The connectors' configuration from the adapter's settings."""
    return ConnectorsConfig(
        keys_dir=Path(settings.keys_dir),
        population_url=settings.resolved_population_url,
        registry_url=settings.resolved_registry_url,
        portal_url=settings.resolved_portal_url,
        party=settings.party,
        member_code=settings.xroad_member_code,
        agency_code=settings.portal_agency,
        registry_client_id=settings.registry_client_id,
        registry_client_secret=settings.registry_client_secret,
        portal_username=settings.portal_username,
        portal_password=settings.portal_password,
        signature_ttl_seconds=settings.signature_ttl_seconds,
        max_skew_seconds=settings.max_skew_seconds,
        timeouts=Timeouts(
            connect=settings.upstream_connect_timeout, attempt=settings.upstream_attempt_timeout
        ),
        retry=RetrySettings(
            attempts=settings.upstream_attempts, deadline=settings.upstream_deadline
        ),
        breaker=BreakerSettings(
            failure_threshold=settings.breaker_failure_threshold,
            reset_timeout=settings.breaker_reset_seconds,
        ),
    )


def _store_check(engine: AsyncEngine) -> ReadinessCheck:
    async def check() -> tuple[bool, str]:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True, engine.dialect.name

    return check


def _keys_check(settings: Settings) -> ReadinessCheck:
    async def check() -> tuple[bool, str]:
        load_party(settings.keys_dir, settings.party)
        return True, settings.party

    return check


def _metrics_refresh(
    metrics: Metrics,
    connectors: Connectors,
    outbox: SqlOutbox,
    readers: async_sessionmaker[AsyncSession],
) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        for name, health in connectors.health().items():
            metrics.breaker_state.labels(name).set(BREAKER_VALUES[health.state.value])
        try:
            metrics.observe_queue(await outbox.stats())
            async with readers() as session:
                finished = await last_refresh_finished(session)
        except Exception as exc:
            log.warning("metrics: queue figures unavailable (%s)", type(exc).__name__)
            return
        if finished is not None:
            lag = (utc_now() - finished).total_seconds()
            metrics.records_refresh_lag.set(max(lag, 0.0))

    return refresh


def _message_log(engine: AsyncEngine, keys: Path) -> SqlMessageLog:
    """The message log on ``engine``, its bodies encrypted with the key folder's log key."""
    return SqlMessageLog(
        engine, BodyCipher(message_log_key(keys)), certificates=KeyFolderCertificates(keys)
    )


def _lookup_logs(engine: AsyncEngine, keys: Path, access_log_keys: KeyRing) -> LookupLogs:
    """The message log (as :func:`_message_log`) and the access log on one group commit."""
    return LookupLogs(
        engine,
        BodyCipher(message_log_key(keys)),
        access_log_keys,
        certificates=KeyFolderCertificates(keys),
    )


@asynccontextmanager
async def portal_connector(
    settings: Settings, *, message_log: AsyncEngine | None = None
) -> AsyncIterator[PortalConnector]:
    """The portal connector as ``serve`` builds it (exchanges logged on ``message_log``).

    For ``sync run`` and ``sync reconcile``; the portal is ``settings.resolved_portal_url``.
    """
    check_keys(settings)
    async with AsyncExitStack() as stack:
        recorder = None
        if message_log is not None:
            recorder = _message_log(message_log, Path(settings.keys_dir))
            stack.push_async_callback(recorder.aclose)
        connector = build_portal(connectors_config(settings), recorder=recorder)
        stack.push_async_callback(connector.aclose)
        yield connector


@asynccontextmanager
async def upstream_connectors(
    settings: Settings,
) -> AsyncIterator[tuple[PopulationConnector, RegistryConnector]]:
    """The population and registry connectors as ``serve`` builds them (exchanges logged).

    For command-line tools; in sandbox mode the mocks must be running (``lienthong serve``).
    """
    check_keys(settings)
    keys = Path(settings.keys_dir)
    engine = create_engine(settings.resolved_database_url, pool_size=2)
    message_log = _message_log(engine, keys)
    connectors = build_connectors(connectors_config(settings), recorder=message_log)
    try:
        yield connectors.population, connectors.registry
    finally:
        await connectors.aclose()
        await message_log.aclose()
        await engine.dispose()


def _records_refresh_service(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], connectors: Connectors
) -> WatchRefreshService:
    """The scheduled refresh of watched records, within the per-upstream rate budget."""
    refresher = WatchRefresher(
        sessions,
        population=connectors.population,
        registry=connectors.registry,
        budget=RateBudget(
            {
                "population": settings.refresh_population_rate,
                "registry": settings.refresh_registry_rate,
            }
        ),
        settings=RefreshSettings(user_id=settings.refresh_official),
    )
    return WatchRefreshService(refresher, interval=settings.refresh_interval_seconds)


def _anchor_service(settings: Settings, engine: AsyncEngine) -> AnchorService | None:
    """The periodic RFC 3161 anchoring of the message log, when a TSA is configured (in
    sandbox: the mock's ``/tsa``) and the interval is not 0."""
    url = settings.log_anchor_tsa_url
    if url is None and settings.sandbox:
        url = f"{settings.mock_base_url}/tsa"
    if url is None or settings.log_anchor_interval_seconds <= 0:
        return None
    ca = settings.log_anchor_tsa_ca or Path(settings.keys_dir) / "ca" / "cert.pem"
    stamper = TsaClient(url, TrustStore.from_pem_file(ca))
    return AnchorService(engine, stamper, interval=settings.log_anchor_interval_seconds)


def chain_agency_urls(settings: Settings) -> dict[str, str]:
    """Each agency system's base URL: the settings', else the sandbox mock's."""
    urls = sandbox_agency_urls(settings.mock_base_url)
    given = {
        "civil-status": settings.civil_status_url,
        "residence": settings.residence_url,
        "social-security": settings.social_security_url,
    }
    urls.update({name: url for name, url in given.items() if url})
    return urls


def chain_runtime(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    recorder: SqlMessageLog | None = None,
) -> ChainRuntime:
    """Chains as the settings describe them (definitions, agencies, polling, lanes)."""
    agencies = build_agencies(
        connectors_config(settings), chain_agency_urls(settings), recorder=recorder
    )
    options = ChainOptions(
        definitions_dir=settings.chains_dir,
        poll_interval=dt.timedelta(seconds=settings.chain_poll_seconds),
        worker=ChainWorkerSettings(
            lease=dt.timedelta(seconds=settings.chain_lease_seconds),
            concurrency=settings.chain_lanes,
            client_id=settings.party,
        ),
    )
    return ChainRuntime.build(sessions, agencies, options)


def build_timeliness(settings: Settings) -> Timeliness:
    """The calendar, deadline rules, classifier and apology policy from the settings."""
    return Timeliness.build(
        overrides_dir=settings.calendar_overrides_dir,
        cutoff=settings.timeliness_cutoff,
        count_paused=settings.timeliness_count_paused,
        at_risk_hours=settings.timeliness_at_risk_hours,
        apology_on_at_risk=settings.apology_on_at_risk,
        extension_working_days=settings.apology_extension_working_days,
        agency_name=settings.apology_agency_name,
        font_path=settings.apology_font,
    )


def _catalogue_source(portal: PortalConnector, party: str) -> CatalogueSource:
    """The portal's catalogue (``LayDanhSachTTHC``) as procedure deadlines."""

    async def fetch() -> list[ProcedureDeadline]:
        procedures = await portal.list_procedures(CallContext.new(party))
        return [
            ProcedureDeadline(p.code, p.processing_days, p.name, p.sector_code)
            for p in procedures
            if p.processing_days is not None
        ]

    return fetch


def _engines(settings: Settings) -> tuple[AsyncEngine, AsyncEngine]:
    """The engine for writes and the one for reads (the same one on PostgreSQL).

    SQLite has one writer at a time, and a writer that finds the lock taken sleeps in SQLite's
    busy handler (1, 2, 5 … 100 ms), which under load costs far more than the write. So on
    SQLite every write transaction of this process goes through one pooled connection (writers
    queue in the event loop instead), and reads use a pool of their own (WAL lets them run
    beside the writer).
    """
    url = normalize_url(settings.resolved_database_url)
    if url.startswith("sqlite"):
        return create_engine(url, pool_size=1), create_engine(url, pool_size=settings.db_pool_size)
    engine = create_engine(url, pool_size=settings.db_pool_size)
    return engine, engine


def build_console(
    settings: Settings,
    container: Container,
    engine: AsyncEngine,
    outbox: SqlOutbox,
    connectors: Connectors,
    trust: TrustStore,
) -> ASGIApp:
    """The operator console over the container's parts and the store's ``engine`` (its pages
    and accounts read and write the store themselves), mounted by the app at ``/console``."""
    keys = Path(settings.keys_dir)
    portal = connectors.portal

    async def portal_lookup(code: str) -> dict[str, str] | None:
        try:
            held = await portal.lookup_dossier(code, CallContext.new("console", issue=code))
        except NotFound:
            return None
        return None if held is None else dossier_to_portal(held.dossier)

    reconciliation = Reconciliation(engine)

    async def reconcile_dossier(code: str) -> str:
        report = await reconcile_one(reconciliation, portal, code, client_id="console")
        return reconcile_outcome(report)

    backend = ConsoleBackend(
        engine=engine,
        outbox=outbox,
        upstream_health=lambda: [upstream.health() for upstream in container.upstreams],
        readiness=container.readiness,
        portal_lookup=portal_lookup,
        reconcile_one=reconcile_dossier,
        access_log_keys=container.access_log_keys,
        clients=lambda: [client.as_dict() for client in container.clients],
        log_cipher=BodyCipher(message_log_key(keys)),
        log_trust=trust,
        ca_pem=(keys / "ca" / "cert.pem").read_bytes(),
        timeliness=(
            None
            if container.timeliness is None
            else TimelinessParts(container.timeliness.classifier, container.timeliness.rules)
        ),
    )
    sessions = create_sessionmaker(engine)
    console = Console(
        backend,
        Accounts(
            sessions,
            lockout=LockoutPolicy(
                after=settings.console_lockout_attempts,
                duration=dt.timedelta(minutes=settings.console_lockout_minutes),
            ),
        ),
        SessionManager(
            sessions, policy=SessionPolicy(idle=dt.timedelta(minutes=settings.console_idle_minutes))
        ),
        AuditTrail(sessions),
        ConsoleSettings(secure_cookies=settings.console_secure_cookies),
    )
    return console.asgi()


def build_container(
    settings: Settings,
    *,
    nonces: ReplayCache | None = None,
    rates: RateCounter | None = None,
) -> Container:
    """Everything the API needs, built once (see the module docstring); no network I/O.

    ``nonces`` is the replay cache and ``rates`` the rate counter to use (``serve --workers N``
    passes the workers' shared tables); by default :func:`replay_cache` and
    :func:`rate_counter` choose by the settings.
    """
    keys = Path(settings.keys_dir)
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    credentials = load_party(keys, settings.party)
    clients = load_client_registry(settings)
    client_keys = {
        client.client_id: client.certificate
        if client.certificate is not None
        else client.public_key
        for client in clients
    }
    if settings.public_authorities is None and settings.host in ("0.0.0.0", "::"):  # noqa: S104
        log.warning(
            "public_authorities is not set and serve listens on every address: requests are "
            "accepted only when signed for %s; set LIENTHONG_PUBLIC_AUTHORITIES to the names "
            "clients use",
            ", ".join(sorted(settings.resolved_public_authorities)),
        )
    verifier = HttpVerifier(
        StaticKeyResolver({k: v for k, v in client_keys.items() if v is not None}, trust),
        nonces if nonces is not None else replay_cache(settings),
        max_skew=settings.max_skew_seconds,
        authorities=settings.resolved_public_authorities,
    )
    signer = HttpSigner(credentials, ttl=settings.signature_ttl_seconds)

    engine, read_engine = _engines(settings)
    sessions = create_sessionmaker(engine)
    # one group commit for the message log and the access log: a lookup's rows share commits
    access_log_keys = load_access_log_keys(keys)
    logs = _lookup_logs(engine, keys, access_log_keys)
    message_log = logs.message_log
    metrics = Metrics.for_process()
    connectors = build_connectors(
        connectors_config(settings), recorder=MeteredRecorder(metrics, message_log), trust=trust
    )
    metrics.watch_log_group(logs)
    outbox = SqlOutbox(engine)
    readers = create_sessionmaker(reader(read_engine))
    metrics.on_scrape(_metrics_refresh(metrics, connectors, outbox, readers))
    # the desks write on ``engine`` and read on ``read_engine``; the watch list is read on the
    # engine that writes it
    runner = SessionRunner(engine, read_engine=read_engine)
    timeliness = build_timeliness(settings)

    container = Container(
        settings=settings,
        clients=clients,
        metrics=metrics,
        signer=signer,
        verifier=verifier,
        population=connectors.population,
        registry=connectors.registry,
        upstreams=list(connectors),
        access_log_keys=access_log_keys,
        dossier_reads=DossierReads(read_engine),
        # the change feed and the access log are read on the engine that writes them
        change_reads=ChangeReads(engine),
        access_log_book=AccessLogBook(engine, access_log_keys),
        logs=logs,
        dossier_writes=DossierQueue(sessions, rules=timeliness.rules),
        watch_desk=WatchDesk(SessionRunner(engine), ClientWatchPolicy(clients)),
        timeliness_desk=TimelinessDesk(runner),
        portal=connectors.portal,
        rate_limiter=rate_limiter(
            settings, rates if rates is not None else rate_counter(settings), access_log_keys
        ),
        timeliness=timeliness,
    )
    if metrics.multiprocess_dir is not None:
        container.services.append(MetricsRefresh(metrics))
    if settings.sandbox and settings.sandbox_mocks:
        mock_app = create_mock_app(MockSettings(keys_dir=keys, seed=settings.mock_seed))
        container.services.append(
            EmbeddedServer(
                "mock-endpoints", mock_app, host=settings.mock_host, port=settings.mock_port
            )
        )
    if settings.run_worker:
        worker_settings = WorkerSettings(
            concurrency=settings.worker_lanes,
            retry=RetryPolicy(max_attempts=settings.worker_max_attempts),
        )
        worker = SyncWorker(outbox, connectors.portal, settings=worker_settings)
        container.services.append(WorkerService(worker, stop_timeout=10.0))
    chains = chain_runtime(settings, sessions, recorder=message_log)
    container.chain_desk = ChainDesk(chains, runner)
    if settings.run_worker:
        container.services.append(ChainWorkerService(chains.worker()))
    container.push = build_push(settings, engine, signer, clients)
    if settings.run_worker and settings.push_enabled:
        container.services.append(container.push.service)
    if settings.refresh_interval_seconds > 0:
        container.services.append(_records_refresh_service(settings, sessions, connectors))
    anchors = _anchor_service(settings, engine)
    if anchors is not None:
        container.services.append(anchors)

    container.services.append(
        TimelinessService(
            timeliness,
            sessions,
            _catalogue_source(connectors.portal, settings.party),
            interval=settings.timeliness_interval_seconds,
            background=settings.timeliness_background,
        )
    )
    container.readiness["keys"] = _keys_check(settings)
    container.readiness["store"] = _store_check(engine)
    if settings.console_enabled:
        container.console = build_console(settings, container, engine, outbox, connectors, trust)
    container.closers += [engine.dispose, message_log.aclose, connectors.aclose]
    container.closers += [agency.aclose for agency in chains.agencies.values()]  # type: ignore[attr-defined]
    if read_engine is not engine:
        container.closers.insert(0, read_engine.dispose)
    return container


__all__ = [
    "StartupError",
    "build_console",
    "build_container",
    "build_timeliness",
    "chain_agency_urls",
    "chain_runtime",
    "check_keys",
    "connectors_config",
    "load_client_registry",
    "portal_connector",
    "prepare",
    "prepare_async",
    "upstream_connectors",
]
