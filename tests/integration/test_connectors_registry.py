"""The registry connector against the real mock over HTTP: tokens, lookups, faults, signatures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import BreakerState
from connectors.errors import (
    BadUpstreamSignature,
    CircuitOpen,
    InvalidRequest,
    NotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from connectors.exchange import Exchange, MemoryRecorder
from connectors.registry import RegistryConnector
from connectors.resilience import Resilience
from schemas.tax_code import make_tax_code
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.keys import load_party
from security.trust import TrustStore
from tests.integration.connectors_support import (
    MockServer,
    context,
    running_mock,
    running_proxy,
    upstream,
)

SANDBOX_SECRET = "sandbox-secret"


@pytest.fixture(scope="module")
def mock(dev_keys: Path) -> Iterator[MockServer]:
    """The mock national endpoints for this module."""
    with running_mock(dev_keys) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_faults(mock: MockServer) -> Iterator[None]:
    mock.clear_faults()
    yield
    mock.clear_faults()


@pytest.fixture(scope="module")
def business(mock: MockServer) -> dict[str, Any]:
    """A business of the mock's synthetic catalogue."""
    return mock.get("/_admin/registry/businesses?limit=1")["businesses"][0]  # type: ignore[no-any-return]


def make(
    keys: Path,
    url: str,
    *,
    secret: str = SANDBOX_SECRET,
    recorder: Any = None,
    **settings: Any,
) -> RegistryConnector:
    """A registry connector for ``url`` with quick-to-fail settings."""
    config = upstream("registry", url, **settings)
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    return RegistryConnector(
        config,
        signer=HttpSigner(load_party(keys, "adapter")),
        verifier=HttpVerifier(TrustedKeyDirectory(keys, trust), None),
        client_id="lienthong-sandbox",
        client_secret=secret,
        recorder=recorder,
        resilience=Resilience(config),
    )


@pytest.fixture
async def connector(dev_keys: Path, mock: MockServer) -> AsyncIterator[RegistryConnector]:
    """A connector to the mock registry."""
    c = make(dev_keys, f"{mock.url}/registry")
    yield c
    await c.aclose()


def _absent_tax_code(mock: MockServer) -> str:
    known = {b["tax_code"] for b in mock.get("/_admin/registry/businesses?limit=all")["businesses"]}
    for first in range(100000000, 100001000):
        try:
            code = make_tax_code(str(first))
        except ValueError:
            continue  # a first nine whose check digit would be 10 is never issued
        if code not in known:
            return code
    raise AssertionError("no free tax code found")


async def test_get_business_returns_the_mock_record(
    connector: RegistryConnector, business: dict[str, Any]
) -> None:
    """The detail call maps Data.MainInformation and Representatives to the Business model."""
    found = await connector.get_business(business["tax_code"], context())
    assert found.tax_code == business["tax_code"]
    assert found.name == business["name"]
    assert found.status.value == business["status"]


async def test_token_is_fetched_once_and_reused(
    connector: RegistryConnector, business: dict[str, Any]
) -> None:
    """Three lookups use one access token."""
    for _ in range(3):
        await connector.get_business(business["tax_code"], context())
    assert connector.tokens.fetches == 1


async def test_expired_token_is_renewed_transparently(
    connector: RegistryConnector, mock: MockServer, business: dict[str, Any]
) -> None:
    """When the registry forgets every token, the next lookup fetches a new one and succeeds."""
    await connector.get_business(business["tax_code"], context())
    mock.admin.delete("/_admin/registry/tokens").raise_for_status()
    found = await connector.get_business(business["tax_code"], context())
    assert found.tax_code == business["tax_code"]
    assert connector.tokens.fetches == 2


async def test_unknown_business_is_not_found(
    connector: RegistryConnector, mock: MockServer
) -> None:
    """A well-formed tax code nobody holds is NotFound (404 NOT_FOUND), not retried."""
    with pytest.raises(NotFound) as info:
        await connector.get_business(_absent_tax_code(mock), context())
    assert info.value.fault_code == "NOT_FOUND"
    assert info.value.status == 404
    assert connector.resilience.attempts == 1


async def test_malformed_tax_code_is_refused_before_sending(connector: RegistryConnector) -> None:
    """A tax code with a wrong check digit never leaves the adapter."""
    with pytest.raises(InvalidRequest) as info:
        await connector.get_business("0100109107", context())
    assert info.value.fault_code == "INVALID_TAX_CODE"
    assert connector.resilience.attempts == 0


async def test_wrong_client_secret_is_rejected_permanently(
    dev_keys: Path, mock: MockServer, business: dict[str, Any]
) -> None:
    """invalid_client from the token endpoint is a permanent UpstreamRejected."""
    c = make(dev_keys, f"{mock.url}/registry", secret="wrong")
    try:
        with pytest.raises(UpstreamRejected) as info:
            await c.get_business(business["tax_code"], context())
    finally:
        await c.aclose()
    assert info.value.fault_code == "invalid_client"
    assert c.resilience.attempts == 1


async def test_latency_beyond_the_timeout_is_an_upstream_timeout(
    dev_keys: Path, mock: MockServer, business: dict[str, Any]
) -> None:
    """A registry slower than the attempt timeout ends in UpstreamTimeout after the retries."""
    mock.faults("registry", latency_ms=800)
    c = make(dev_keys, f"{mock.url}/registry", attempt=0.2, attempts=2)
    try:
        with pytest.raises(UpstreamTimeout):
            await c.get_business(business["tax_code"], context())
        assert c.resilience.attempts == 2
    finally:
        await c.aclose()


async def test_error_burst_is_ridden_out(
    dev_keys: Path, mock: MockServer, business: dict[str, Any]
) -> None:
    """Two 503 UNAVAILABLE answers, then health: the caller gets the business."""
    mock.faults("registry", outage=True)
    failures: list[Exchange] = []

    class HealAfterTwo(MemoryRecorder):
        async def record(self, exchange: Exchange) -> None:
            await super().record(exchange)
            if exchange.status == 503:
                failures.append(exchange)
                if len(failures) == 2:
                    await asyncio.to_thread(mock.clear_faults)

    recorder = HealAfterTwo()
    c = make(dev_keys, f"{mock.url}/registry", recorder=recorder, attempts=4)
    try:
        found = await c.get_business(business["tax_code"], context())
    finally:
        await c.aclose()
    assert found.tax_code == business["tax_code"]
    assert [e.outcome for e in recorder.exchanges][-1] == "ok"
    assert sum(1 for e in recorder.exchanges if e.outcome == "http_503") == 2


async def test_outage_opens_the_breaker_and_recovery_closes_it(
    dev_keys: Path, mock: MockServer, business: dict[str, Any]
) -> None:
    """A registry outage opens the breaker; after the reset timeout a probe closes it."""
    mock.faults("registry", outage=True)
    c = make(dev_keys, f"{mock.url}/registry", attempts=1, threshold=2, reset=0.3)
    try:
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable):
                await c.get_business(business["tax_code"], context())
        with pytest.raises(CircuitOpen):
            await c.get_business(business["tax_code"], context())
        mock.clear_faults()
        await asyncio.sleep(0.35)
        await c.get_business(business["tax_code"], context())
        assert c.health().state is BreakerState.CLOSED
    finally:
        await c.aclose()


@pytest.mark.parametrize(
    ("mode", "reasons"),
    [
        ("strip", {"missing_signature"}),
        ("tamper", {"digest_mismatch"}),
        ("foreign", {"unexpected_party"}),
    ],
)
async def test_responses_with_bad_signatures_are_refused(
    dev_keys: Path, mock: MockServer, business: dict[str, Any], mode: str, reasons: set[str]
) -> None:
    """Unsigned, altered and foreign-signed responses are refused (through a proxy)."""
    with running_proxy(mock.url, dev_keys, "portal") as (url, proxy):
        c = make(dev_keys, f"{url}/registry")
        try:
            await c.get_business(business["tax_code"], context())  # token and one good lookup
            proxy.mode = mode
            with pytest.raises(BadUpstreamSignature) as info:
                await c.get_business(business["tax_code"], context())
        finally:
            await c.aclose()
    assert info.value.fault_code in reasons


async def test_response_from_another_party_than_configured_is_refused(
    dev_keys: Path, mock: MockServer, business: dict[str, Any]
) -> None:
    """A connector expecting the portal's key refuses the registry's genuine signature."""
    c = make(dev_keys, f"{mock.url}/registry", party="portal")
    try:
        with pytest.raises(BadUpstreamSignature) as info:
            await c.get_business(business["tax_code"], context())
    finally:
        await c.aclose()
    assert info.value.fault_code == "unexpected_party"


async def test_exchanges_keep_secrets_out_of_the_message_log(
    dev_keys: Path, mock: MockServer, business: dict[str, Any]
) -> None:
    """The token request's credentials and the bearer token are not recorded."""
    recorder = MemoryRecorder()
    c = make(dev_keys, f"{mock.url}/registry", recorder=recorder)
    try:
        await c.get_business(business["tax_code"], context())
    finally:
        await c.aclose()
    assert [e.operation for e in recorder.exchanges] == ["GetToken", "GetBusiness"]
    for exchange in recorder.exchanges:
        assert exchange.request_headers["Authorization"] == "<redacted>"
        assert "signature" in {k.lower() for k in exchange.request_headers}
        assert b"sandbox-secret" not in exchange.request
