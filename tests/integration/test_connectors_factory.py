"""``build_connectors`` against the real mock: one config builds all three, each one answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import BreakerState
from connectors.exchange import MemoryRecorder
from connectors.factory import ConnectorsConfig, build_connectors
from tests.integration.connectors_support import MockServer, context, running_mock


@pytest.fixture(scope="module")
def mock(dev_keys: Path) -> Iterator[MockServer]:
    """The mock national endpoints for this module."""
    with running_mock(dev_keys, citizens=5, businesses=5) as server:
        yield server


async def test_sandbox_config_builds_three_working_connectors(
    dev_keys: Path, mock: MockServer
) -> None:
    """One sandbox config: a citizen, a business and the procedure catalogue come back,
    every exchange reaches the one recorder, and health lists the three closed breakers."""
    citizen = mock.get("/_admin/population/citizens?limit=1")["citizens"][0]
    business = mock.get("/_admin/registry/businesses?limit=1")["businesses"][0]
    recorder = MemoryRecorder()
    built = build_connectors(ConnectorsConfig.sandbox(mock.url, dev_keys), recorder=recorder)
    try:
        found = await built.population.get_citizen(citizen["citizen_id"], context())
        company = await built.registry.get_business(business["tax_code"], context())
        procedures = await built.portal.list_procedures(context())
    finally:
        await built.aclose()
    assert found.citizen_id == citizen["citizen_id"]
    assert company.tax_code == business["tax_code"]
    assert procedures
    assert {e.upstream for e in recorder.exchanges} == {"population", "registry", "portal"}
    assert all(e.sender == "adapter" for e in recorder.exchanges)
    health = built.health()
    assert sorted(health) == ["population", "portal", "registry"]
    assert all(h.state is BreakerState.CLOSED and h.last_success for h in health.values())


def test_per_upstream_overrides_win(dev_keys: Path) -> None:
    """An explicit UpstreamConfig for one upstream replaces the shared settings for it."""
    base = ConnectorsConfig.sandbox("http://127.0.0.1:1", dev_keys)
    special = base.upstream("portal")
    special = type(special)(name="portal", base_url="http://portal.test", max_concurrency=2)
    config = ConnectorsConfig.sandbox("http://127.0.0.1:1", dev_keys, upstreams={"portal": special})
    assert config.upstream("portal").base_url == "http://portal.test"
    assert config.upstream("registry").base_url == "http://127.0.0.1:1/registry"
    assert "sandbox-secret" not in repr(config)
    assert "portal_password" not in repr(config)
