"""Building the three connectors from one ``ConnectorsConfig``, in one call.

``build_connectors(config, recorder=...)`` loads our party's key (``adapter`` by default) and
the trust store from the key folder, binds the population WSDL once, and returns
``Connectors(population, registry, portal)`` with ``health()`` and ``aclose()`` for all three.
``ConnectorsConfig.sandbox(base_url, keys_dir)`` points everything at one mock server with the
sandbox credentials of docs/design.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from connectors.agencies import AgencyConnector
from connectors.base import (
    BreakerSettings,
    Connector,
    ConnectorHealth,
    RetrySettings,
    Timeouts,
    UpstreamConfig,
)
from connectors.exchange import ExchangeRecorder
from connectors.population import PopulationConnector, population_contract
from connectors.portal import PortalConnector
from connectors.registry import RegistryConnector
from connectors.transport import DEFAULT_TRANSPORT, Transport, make_transport
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.keys import Credentials, load_party
from security.trust import TrustStore

POPULATION = "population"
REGISTRY = "registry"
PORTAL = "portal"


@dataclass(frozen=True)
class ConnectorsConfig:
    """Everything the connectors need: where the upstreams are, keys, credentials, patience.

    ``*_url`` are the upstreams' base URLs: the population SOAP endpoint itself, the
    registry's and the portal's API roots (``…/registry``, ``…/portal``). ``member_code`` is
    the province's X-Road member code (``H04``); ``agency_code`` the unit code sent to the
    portal as ``madonvi`` and ``dstcode``. ``upstreams`` overrides per-upstream settings.
    """

    keys_dir: Path
    population_url: str
    registry_url: str
    portal_url: str
    party: str = "adapter"
    member_code: str = "H04"
    agency_code: str = "000.00.04.H04"
    registry_client_id: str = "lienthong-sandbox"
    registry_client_secret: str = field(default="sandbox-secret", repr=False)
    portal_username: str = "lienthong"
    portal_password: str = field(default="sandbox", repr=False)
    transport: str = DEFAULT_TRANSPORT
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    max_concurrency: int = 64
    #: lifetime of our signatures (RFC 9421 ``expires``, the WS-Security Timestamp)
    signature_ttl_seconds: int = 60
    #: clock skew tolerated when checking the upstreams' signatures
    max_skew_seconds: int = 60
    portal_batch_size: int = 100
    upstreams: dict[str, UpstreamConfig] = field(default_factory=dict)

    @classmethod
    def sandbox(cls, base_url: str, keys_dir: Path | str, **changes: object) -> ConnectorsConfig:
        """All three upstreams on one mock server at ``base_url`` (``mock_endpoints.app`` URLs)."""
        root = base_url.rstrip("/")
        config = cls(
            keys_dir=Path(keys_dir),
            population_url=f"{root}/population/soap",
            registry_url=f"{root}/registry",
            portal_url=f"{root}/portal",
        )
        return replace(config, **changes)  # type: ignore[arg-type]

    def upstream(self, name: str) -> UpstreamConfig:
        """The settings of upstream ``name`` (an override, or built from the shared ones)."""
        if name in self.upstreams:
            return self.upstreams[name]
        url = {
            POPULATION: self.population_url,
            REGISTRY: self.registry_url,
            PORTAL: self.portal_url,
        }
        return UpstreamConfig(
            name=name,
            base_url=url[name],
            timeouts=self.timeouts,
            retry=self.retry,
            breaker=self.breaker,
            max_concurrency=self.max_concurrency,
        )


@dataclass
class Connectors:
    """The three connectors, built together and closed together."""

    population: PopulationConnector
    registry: RegistryConnector
    portal: PortalConnector

    def __iter__(self) -> Iterator[Connector]:
        return iter((self.population, self.registry, self.portal))

    def health(self) -> dict[str, ConnectorHealth]:
        """Each connector's health, by upstream name."""
        return {connector.name: connector.health() for connector in self}

    async def aclose(self) -> None:
        """Close every connector's pooled connections."""
        for connector in self:
            await connector.aclose()


def _signing(config: ConnectorsConfig, trust: TrustStore | None) -> _Signing:
    keys = Path(config.keys_dir)
    trust = trust or TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    credentials = load_party(keys, config.party)
    signer = HttpSigner(credentials, ttl=config.signature_ttl_seconds)
    verifier = HttpVerifier(
        TrustedKeyDirectory(keys, trust), None, max_skew=config.max_skew_seconds
    )
    return _Signing(trust, credentials, signer, verifier)


@dataclass(frozen=True)
class _Signing:
    trust: TrustStore
    credentials: Credentials
    signer: HttpSigner
    verifier: HttpVerifier


def _transport(config: ConnectorsConfig, upstream: UpstreamConfig) -> Transport:
    return make_transport(
        config.transport,
        upstream.name,
        connect_timeout=upstream.timeouts.connect,
        max_connections=upstream.max_concurrency,
    )


def _portal(
    config: ConnectorsConfig, signing: _Signing, recorder: ExchangeRecorder | None
) -> PortalConnector:
    portal_config = config.upstream(PORTAL)
    return PortalConnector(
        portal_config,
        signer=signing.signer,
        verifier=signing.verifier,
        username=config.portal_username,
        password=config.portal_password,
        agency_code=config.agency_code,
        transport=_transport(config, portal_config),
        recorder=recorder,
        batch_size=config.portal_batch_size,
    )


def build_portal(
    config: ConnectorsConfig,
    *,
    recorder: ExchangeRecorder | None = None,
    trust: TrustStore | None = None,
) -> PortalConnector:
    """The portal connector alone (the sync worker needs no other upstream)."""
    return _portal(config, _signing(config, trust), recorder)


def build_connectors(
    config: ConnectorsConfig,
    *,
    recorder: ExchangeRecorder | None = None,
    trust: TrustStore | None = None,
) -> Connectors:
    """The population, registry and portal connectors described by ``config``."""
    signing = _signing(config, trust)
    population_config = config.upstream(POPULATION)
    registry_config = config.upstream(REGISTRY)
    population = PopulationConnector(
        population_config,
        credentials=signing.credentials,
        trust=signing.trust,
        member_code=config.member_code,
        contract=population_contract(),
        transport=_transport(config, population_config),
        recorder=recorder,
        signature_ttl=dt.timedelta(seconds=config.signature_ttl_seconds),
        max_skew=dt.timedelta(seconds=config.max_skew_seconds),
    )
    registry = RegistryConnector(
        registry_config,
        signer=signing.signer,
        verifier=signing.verifier,
        client_id=config.registry_client_id,
        client_secret=config.registry_client_secret,
        transport=_transport(config, registry_config),
        recorder=recorder,
    )
    return Connectors(population, registry, _portal(config, signing, recorder))


def build_agency(
    config: ConnectorsConfig,
    name: str,
    base_url: str,
    *,
    recorder: ExchangeRecorder | None = None,
    trust: TrustStore | None = None,
) -> AgencyConnector:
    """The connector to agency system ``name`` at ``base_url`` (replies signed by ``name``)."""
    upstream = config.upstreams.get(name) or UpstreamConfig(
        name=name,
        base_url=base_url,
        timeouts=config.timeouts,
        retry=config.retry,
        breaker=config.breaker,
        max_concurrency=config.max_concurrency,
    )
    signing = _signing(config, trust)
    return AgencyConnector(
        upstream,
        signer=signing.signer,
        verifier=signing.verifier,
        transport=_transport(config, upstream),
        recorder=recorder,
    )


__all__ = [
    "POPULATION",
    "PORTAL",
    "REGISTRY",
    "Connectors",
    "ConnectorsConfig",
    "build_agency",
    "build_connectors",
    "build_portal",
]
