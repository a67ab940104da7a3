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
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp

from adapter_api.clients import ClientConfigError, ClientRegistry, load_clients, sandbox_clients
from adapter_api.container import Container, ReadinessCheck
from adapter_api.metrics import BREAKER_VALUES, Metrics, MetricsRefresh
from connectors.base import BreakerSettings, CallContext, RetrySettings, Timeouts
from connectors.errors import NotFound
from connectors.factory import Connectors, ConnectorsConfig, build_connectors
from connectors.population import PopulationConnector
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
from lienthong.background import EmbeddedServer
from lienthong.settings import Settings
from mock_endpoints.app import create_mock_app
from mock_endpoints.settings import MockSettings
from schemas.wire.portal import dossier_to_portal
from security.http_signatures import HttpSigner, HttpVerifier, StaticKeyResolver
from security.keys import load_party
from security.pki import dev_pki_exists, init_dev_pki
from security.replay import MemoryReplayCache, RedisReplayCache, ReplayCache
from security.trust import TrustStore
from store.access_log_keys import load_access_log_keys
from store.db import create_engine, create_sessionmaker, normalize_url, upgrade, upgrade_async
from store.log_keys import message_log_key
from store.message_log import BodyCipher, KeyFolderCertificates, SqlMessageLog
from store.message_log.group_commit import GroupCommit
from store.outbox import SqlOutbox
from sync.backoff import RetryPolicy
from sync.rate_budget import RateBudget
from sync.reconcile import reconcile_one
from sync.records_refresh import RecordsRefresher, RecordsRefreshService, RefreshSettings
from sync.worker import SyncWorker, WorkerService, WorkerSettings

log = logging.getLogger("lienthong.api")


def replay_cache(settings: Settings) -> ReplayCache:
    """Nonces shared through Redis when ``replay_cache_url`` is set, else kept in memory."""
    if settings.replay_cache_url:
        return RedisReplayCache.from_url(settings.replay_cache_url)
    return MemoryReplayCache()


def _prepare_folders(settings: Settings) -> None:
    if settings.sandbox and not dev_pki_exists(settings.keys_dir):
        log.info("creating development keys in %s", settings.keys_dir)
        init_dev_pki(settings.keys_dir)
    if settings.database_url is None:
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


def load_client_registry(settings: Settings) -> ClientRegistry:
    """The clients file when set; the sandbox clients in sandbox mode; otherwise an error."""
    if settings.clients_file is not None:
        return load_clients(settings.clients_file)
    if settings.sandbox:
        return sandbox_clients(settings.keys_dir)
    raise ClientConfigError("outside the sandbox a clients file is required (--clients)")


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
    metrics: Metrics, connectors: Connectors, outbox: SqlOutbox
) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        for name, health in connectors.health().items():
            metrics.breaker_state.labels(name).set(BREAKER_VALUES[health.state.value])
        try:
            stats = await outbox.stats()
        except Exception as exc:
            log.warning("metrics: outbox depth unavailable (%s)", type(exc).__name__)
            return
        metrics.outbox_depth.set(stats.pending)

    return refresh


@asynccontextmanager
async def upstream_connectors(
    settings: Settings,
) -> AsyncIterator[tuple[PopulationConnector, RegistryConnector]]:
    """The population and registry connectors as ``serve`` builds them (exchanges logged).

    For command-line tools; in sandbox mode the mocks must be running (``lienthong serve``).
    """
    keys = Path(settings.keys_dir)
    engine = create_engine(settings.resolved_database_url, pool_size=2)
    message_log = SqlMessageLog(
        engine, BodyCipher(message_log_key(keys)), certificates=KeyFolderCertificates(keys)
    )
    connectors = build_connectors(connectors_config(settings), recorder=message_log)
    try:
        yield connectors.population, connectors.registry
    finally:
        await connectors.aclose()
        await message_log.aclose()
        await engine.dispose()


def _records_refresh_service(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], connectors: Connectors
) -> RecordsRefreshService:
    """The scheduled refresh of watched records, within the per-upstream rate budget."""
    refresher = RecordsRefresher(
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
    return RecordsRefreshService(refresher, interval=settings.refresh_interval_seconds)


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
    outbox: SqlOutbox,
    connectors: Connectors,
    trust: TrustStore,
) -> ASGIApp:
    """The operator console over the container's parts (mounted by the app at ``/console``)."""
    keys = Path(settings.keys_dir)
    portal = connectors.portal

    async def portal_lookup(code: str) -> dict[str, str] | None:
        try:
            held = await portal.lookup_dossier(code, CallContext.new("console", issue=code))
        except NotFound:
            return None
        return None if held is None else dossier_to_portal(held.dossier)

    async def reconcile_dossier(code: str) -> str:
        return await reconcile_one(container.engine, portal, code, client_id="console")

    backend = ConsoleBackend(
        engine=container.engine,
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
    )
    sessions = create_sessionmaker(container.engine)
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


def build_container(settings: Settings, *, nonces: ReplayCache | None = None) -> Container:
    """Everything the API needs, built once (see the module docstring); no network I/O.

    ``nonces`` is the replay cache to use (``serve --workers N`` passes the workers' shared
    table); by default :func:`replay_cache` chooses by the settings.
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
    verifier = HttpVerifier(
        StaticKeyResolver({k: v for k, v in client_keys.items() if v is not None}, trust),
        nonces if nonces is not None else replay_cache(settings),
        max_skew=settings.max_skew_seconds,
    )
    signer = HttpSigner(credentials, ttl=settings.signature_ttl_seconds)

    engine, read_engine = _engines(settings)
    sessions = create_sessionmaker(engine)
    # one group commit for the message log and the access log: a lookup's rows share commits
    log_group = GroupCommit(engine)
    message_log = SqlMessageLog(
        engine,
        BodyCipher(message_log_key(keys)),
        certificates=KeyFolderCertificates(keys),
        group=log_group,
    )
    connectors = build_connectors(connectors_config(settings), recorder=message_log, trust=trust)
    metrics = Metrics.for_process()
    metrics.watch_log_group(log_group)
    outbox = SqlOutbox(engine)
    metrics.on_scrape(_metrics_refresh(metrics, connectors, outbox))

    container = Container(
        settings=settings,
        clients=clients,
        metrics=metrics,
        signer=signer,
        verifier=verifier,
        population=connectors.population,
        registry=connectors.registry,
        upstreams=list(connectors),
        engine=engine,
        sessions=sessions,
        access_log_keys=load_access_log_keys(keys),
        portal=connectors.portal,
        read_engine=read_engine,
        log_group=log_group,
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
    if settings.refresh_interval_seconds > 0:
        container.services.append(_records_refresh_service(settings, sessions, connectors))
    container.readiness["keys"] = _keys_check(settings)
    container.readiness["store"] = _store_check(engine)
    if settings.console_enabled:
        container.console = build_console(settings, container, outbox, connectors, trust)
    container.closers += [engine.dispose, message_log.aclose, connectors.aclose]
    if read_engine is not engine:
        container.closers.insert(0, read_engine.dispose)
    return container


__all__ = [
    "build_console",
    "build_container",
    "connectors_config",
    "load_client_registry",
    "prepare",
    "prepare_async",
    "upstream_connectors",
]
