"""The population connector against the real mock over HTTP on 127.0.0.1: every operation,
every fault mode, and replies whose signatures are missing, broken or made by another party."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
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
    UpstreamTimeout,
    UpstreamUnavailable,
)
from connectors.exchange import Exchange, MemoryRecorder
from connectors.population import PopulationConnector, population_contract
from connectors.resilience import Resilience
from connectors.wsdl import SoapContract
from security.keys import load_party
from security.trust import TrustStore
from tests.integration.connectors_support import (
    MockServer,
    context,
    running_mock,
    running_proxy,
    upstream,
)


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
def contract() -> SoapContract:
    """The WSDL, bound once."""
    return population_contract()


@pytest.fixture(scope="module")
def citizen(mock: MockServer) -> dict[str, Any]:
    """A citizen of the mock's synthetic catalogue."""
    return mock.get("/_admin/population/citizens?limit=1")["citizens"][0]  # type: ignore[no-any-return]


def make(
    dev_keys: Path, url: str, contract: SoapContract, recorder: Any = None, **settings: Any
) -> PopulationConnector:
    """A population connector for ``url`` with quick-to-fail settings."""
    config = upstream("population", url, **settings)
    return PopulationConnector(
        config,
        credentials=load_party(dev_keys, "adapter"),
        trust=TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem"),
        member_code="H04",
        contract=contract,
        recorder=recorder,
        resilience=Resilience(config),
    )


@pytest.fixture
async def connector(
    dev_keys: Path, mock: MockServer, contract: SoapContract
) -> AsyncIterator[PopulationConnector]:
    """A connector to the mock's population endpoint."""
    c = make(dev_keys, f"{mock.url}/population/soap", contract)
    yield c
    await c.aclose()


async def test_get_citizen_returns_the_mock_record(
    connector: PopulationConnector, citizen: dict[str, Any]
) -> None:
    """GetCitizen returns the same person the mock's catalogue lists."""
    found = await connector.get_citizen(citizen["citizen_id"], context())
    assert found.citizen_id == citizen["citizen_id"]
    assert found.full_name == citizen["full_name"]
    assert found.date_of_birth.isoformat() == citizen["date_of_birth"]


async def test_verify_citizen_matches_only_the_right_triple(
    connector: PopulationConnector, citizen: dict[str, Any]
) -> None:
    """VerifyCitizen says yes for the catalogue's triple and no for another birth date."""
    born = dt.date.fromisoformat(citizen["date_of_birth"])
    assert await connector.verify_citizen(
        citizen["citizen_id"], citizen["full_name"], born, context()
    )
    assert not await connector.verify_citizen(
        citizen["citizen_id"], citizen["full_name"], born + dt.timedelta(days=1), context()
    )


async def test_unknown_citizen_is_not_found_without_retry(
    connector: PopulationConnector, mock: MockServer, citizen: dict[str, Any]
) -> None:
    """An ID nobody has is NotFound after exactly one call to the mock."""
    unknown = citizen["citizen_id"][:6] + (
        "000000" if citizen["citizen_id"][6:] != "000000" else "000001"
    )
    before = mock.calls("population")
    with pytest.raises(NotFound) as info:
        await connector.get_citizen(unknown, context())
    assert info.value.fault_code == "CITIZEN_NOT_FOUND"
    assert mock.calls("population") == before + 1


async def test_invalid_official_is_a_permanent_client_fault(
    connector: PopulationConnector, citizen: dict[str, Any], mock: MockServer
) -> None:
    """A userId that is not VN + a CCCD draws INVALID_REQUEST, which is not retried."""
    ctx = context()
    ctx = type(ctx)(ctx.message_id, ctx.client, "someone", ctx.issue)
    before = mock.calls("population")
    with pytest.raises(InvalidRequest) as info:
        await connector.get_citizen(citizen["citizen_id"], ctx)
    assert info.value.fault_code == "INVALID_REQUEST"
    assert mock.calls("population") == before + 1


async def test_latency_beyond_the_timeout_is_an_upstream_timeout(
    dev_keys: Path, mock: MockServer, contract: SoapContract, citizen: dict[str, Any]
) -> None:
    """A mock slower than the attempt timeout: each attempt times out (the attempt's own time
    limit, which the transport does not repeat), is recorded as a ``timeout``, then
    UpstreamTimeout."""
    mock.faults("population", latency_ms=800)
    recorder = MemoryRecorder()
    c = make(dev_keys, f"{mock.url}/population/soap", contract, recorder, attempt=0.2, attempts=2)
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout) as info:
            await c.get_citizen(citizen["citizen_id"], context())
        assert time.monotonic() - started < 0.8  # neither attempt waited for the answer
        assert info.value.fault_code == "timeout"
        assert c.resilience.attempts == 2
        assert [exchange.outcome for exchange in recorder.exchanges] == ["timeout", "timeout"]
    finally:
        await c.aclose()


async def test_error_burst_is_ridden_out_by_retries(
    dev_keys: Path, mock: MockServer, contract: SoapContract, citizen: dict[str, Any]
) -> None:
    """Two UNAVAILABLE faults in a row, then health: the caller just gets the citizen."""
    mock.faults("population", outage=True)
    failures: list[Exchange] = []

    class HealAfterTwo(MemoryRecorder):
        async def record(self, exchange: Exchange) -> None:
            await super().record(exchange)
            if exchange.outcome == "UNAVAILABLE":
                failures.append(exchange)
                if len(failures) == 2:
                    await asyncio.to_thread(mock.clear_faults)

    recorder = HealAfterTwo()
    c = make(dev_keys, f"{mock.url}/population/soap", contract, recorder, attempts=4)
    try:
        found = await c.get_citizen(citizen["citizen_id"], context())
    finally:
        await c.aclose()
    assert found.citizen_id == citizen["citizen_id"]
    assert [e.outcome for e in recorder.exchanges] == ["UNAVAILABLE", "UNAVAILABLE", "ok"]
    assert [e.attempt for e in recorder.exchanges] == [1, 2, 3]


async def test_outage_opens_the_breaker_and_recovery_closes_it(
    dev_keys: Path, mock: MockServer, contract: SoapContract, citizen: dict[str, Any]
) -> None:
    """An outage trips the breaker (later calls fail fast, unsent); after it, a probe closes it."""
    mock.faults("population", outage=True)
    c = make(dev_keys, f"{mock.url}/population/soap", contract, attempts=1, threshold=3, reset=0.3)
    try:
        for _ in range(3):
            with pytest.raises(UpstreamUnavailable):
                await c.get_citizen(citizen["citizen_id"], context())
        assert c.health().state is BreakerState.OPEN
        before = mock.calls("population")
        with pytest.raises(CircuitOpen):
            await c.get_citizen(citizen["citizen_id"], context())
        assert mock.calls("population") == before
        mock.clear_faults()
        await asyncio.sleep(0.35)
        assert c.health().state is BreakerState.HALF_OPEN
        await c.get_citizen(citizen["citizen_id"], context())
        assert c.health().state is BreakerState.CLOSED
    finally:
        await c.aclose()


async def test_dropped_reply_times_out_and_the_retry_answers(
    dev_keys: Path, mock: MockServer, contract: SoapContract, citizen: dict[str, Any]
) -> None:
    """A reply withheld after the work was done: the attempt times out, the retry succeeds."""
    mock.faults("population", drop_after_commit=1.0, drop_count=1, stall_seconds=5)
    c = make(dev_keys, f"{mock.url}/population/soap", contract, attempt=0.5, attempts=3)
    try:
        found = await c.get_citizen(citizen["citizen_id"], context())
        assert found.citizen_id == citizen["citizen_id"]
        assert c.resilience.attempts == 2
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
async def test_replies_with_bad_signatures_are_refused(
    dev_keys: Path,
    mock: MockServer,
    contract: SoapContract,
    citizen: dict[str, Any],
    mode: str,
    reasons: set[str],
) -> None:
    """Unsigned, altered and foreign-signed replies (through a proxy) are refused, not retried."""
    with running_proxy(mock.url, dev_keys, "registry") as (url, proxy):
        proxy.mode = mode
        c = make(dev_keys, f"{url}/population/soap", contract)
        try:
            with pytest.raises(BadUpstreamSignature) as info:
                await c.get_citizen(citizen["citizen_id"], context())
        finally:
            await c.aclose()
    assert info.value.fault_code in reasons
    assert c.resilience.attempts == 1


async def test_reply_from_another_party_than_configured_is_refused(
    dev_keys: Path, mock: MockServer, contract: SoapContract, citizen: dict[str, Any]
) -> None:
    """A connector expecting the portal's signature refuses the population's genuine one."""
    c = make(dev_keys, f"{mock.url}/population/soap", contract, party="portal")
    try:
        with pytest.raises(BadUpstreamSignature) as info:
            await c.get_citizen(citizen["citizen_id"], context())
    finally:
        await c.aclose()
    assert info.value.fault_code == "unexpected_party"


async def test_concurrent_lookups_share_one_session(
    connector: PopulationConnector, citizen: dict[str, Any]
) -> None:
    """Twenty lookups at once all succeed through the one pooled session."""
    results = await asyncio.gather(
        *(connector.get_citizen(citizen["citizen_id"], context()) for _ in range(20))
    )
    assert {r.citizen_id for r in results} == {citizen["citizen_id"]}
    assert connector.health().in_flight == 0
