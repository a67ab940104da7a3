"""The mock's admin routes and command line: test data lists, changes, faults, ``mock serve``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from mock_endpoints import MockSettings, create_mock_app
from mock_endpoints.app import MockState
from mock_endpoints.cli import mock as mock_group
from tests.support.servers import free_port, serve_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mock(dev_keys: Path) -> Iterator[tuple[str, MockState]]:
    app = create_mock_app(MockSettings(keys_dir=dev_keys, seed=21, citizens=150, businesses=30))
    with serve_app(app) as base:
        yield base, app.state.mock


def test_lists_honour_limit(mock: tuple[str, MockState]) -> None:
    """Citizens, businesses and procedures are listed with ?limit=, the total alongside."""
    base = mock[0]
    citizens = httpx.get(f"{base}/_admin/population/citizens?limit=5").json()
    assert citizens["total"] == 150
    assert len(citizens["citizens"]) == 5
    assert {"citizen_id", "full_name", "date_of_birth"} <= set(citizens["citizens"][0])
    default = httpx.get(f"{base}/_admin/population/citizens").json()
    assert len(default["citizens"]) == 100
    everything = httpx.get(f"{base}/_admin/population/citizens?limit=all").json()
    assert len(everything["citizens"]) == 150
    businesses = httpx.get(f"{base}/_admin/registry/businesses?limit=3").json()
    assert len(businesses["businesses"]) == 3
    assert businesses["businesses"][0]["status_text"]
    assert httpx.get(f"{base}/_admin/population/citizens?limit=x").status_code == 400


def test_listed_data_is_the_seeded_data(mock: tuple[str, MockState]) -> None:
    """The admin list shows the records the mock answers from, in order."""
    listed = httpx.get(f"{mock[0]}/_admin/population/citizens?limit=3").json()["citizens"]
    expected = [c.citizen_id for c in mock[1].data.citizens[:3]]
    assert [c["citizen_id"] for c in listed] == expected


def test_one_business_shows_its_registry_json(mock: tuple[str, MockState]) -> None:
    """``GET /_admin/registry/businesses/{code}`` includes the registry's JSON of it."""
    business = mock[1].data.businesses[0]
    shown = httpx.get(f"{mock[0]}/_admin/registry/businesses/{business.tax_code}").json()
    main = shown["registry_json"]["Data"]["MainInformation"]
    assert main["MaSoDoanhNghiep"] == business.tax_code
    assert httpx.get(f"{mock[0]}/_admin/registry/businesses/0100109106").status_code == 404


def test_changes_are_validated(mock: tuple[str, MockState]) -> None:
    """An unknown record is 404; a field that may not change, or a bad value, is 400."""
    citizen = mock[1].data.citizens[0]
    base = mock[0]
    assert (
        httpx.patch(f"{base}/_admin/population/citizens/001090999999", json={"ethnicity": "Tày"})
    ).status_code == 404
    refused = httpx.patch(
        f"{base}/_admin/population/citizens/{citizen.citizen_id}", json={"sex": "female"}
    )
    assert refused.status_code == 400
    assert citizen.full_name not in refused.text
    moved = httpx.patch(
        f"{base}/_admin/population/citizens/{citizen.citizen_id}", json={"province_code": "048"}
    )
    assert moved.json()["permanent_address"].endswith("Đà Nẵng")
    suspended = httpx.patch(
        f"{base}/_admin/registry/businesses/{mock[1].data.businesses[0].tax_code}",
        json={"status": "suspended"},
    )
    assert suspended.json()["status_text"] == "Tạm ngừng kinh doanh"


def test_fault_plan_round_trip(mock: tuple[str, MockState]) -> None:
    """PUT replaces the plan, GET shows it, a bad plan is 400, DELETE clears it."""
    base = mock[0]
    plan = {"portal": {"latency_ms": 10, "drop_after_commit": 0.5}, "registry": {"outage": True}}
    assert httpx.put(f"{base}/_admin/faults", json=plan).status_code == 200
    shown = httpx.get(f"{base}/_admin/faults").json()["faults"]
    assert shown["portal"]["drop_after_commit"] == 0.5
    assert shown["registry"]["outage"] is True
    bad = httpx.put(f"{base}/_admin/faults", json={"portal": {"error_rate": 2}})
    assert bad.status_code == 400
    assert httpx.delete(f"{base}/_admin/faults").json()["faults"]["registry"]["outage"] is False


def test_index_lists_what_is_served(mock: tuple[str, MockState]) -> None:
    """``/`` and ``/_admin`` say which systems run."""
    assert httpx.get(f"{mock[0]}/").json()["served"] == ["population", "registry", "portal"]
    assert "/_admin/faults" in httpx.get(f"{mock[0]}/_admin").json()["routes"]


def test_only_serves_the_named_system(dev_keys: Path) -> None:
    """With only={"registry"} the population and portal paths are absent."""
    app = create_mock_app(
        MockSettings(keys_dir=dev_keys, citizens=5, businesses=2, only=frozenset({"registry"}))
    )
    with serve_app(app) as base:
        assert httpx.post(f"{base}/portal/login").status_code == 404
        assert httpx.get(f"{base}/population/soap?wsdl").status_code == 404
        assert httpx.get(f"{base}/_admin/registry/businesses").status_code == 200


def test_cli_help_names_the_options() -> None:
    """``lienthong mock serve --help`` documents the sandbox options."""
    result = CliRunner().invoke(mock_group, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--keys", "--seed", "--citizens", "--businesses", "--only", "--fault"):
        assert option in result.output


def test_cli_refuses_a_bad_fault_option(tmp_path: Path) -> None:
    """A malformed --fault is a usage error, before anything is started."""
    result = CliRunner().invoke(
        mock_group, ["serve", "--keys", str(tmp_path), "--fault", "portal:explode=1"]
    )
    assert result.exit_code == 2
    assert "explode" in result.output


@pytest.mark.slow
def test_mock_serve_creates_keys_and_answers(tmp_path: Path) -> None:
    """``lienthong mock serve`` on an empty key folder creates the PKI, says so, and serves."""
    port = free_port()
    keys = tmp_path / "keys"
    command = [
        sys.executable, "-m", "lienthong.cli", "mock", "serve", "--port", str(port),
        "--keys", str(keys), "--citizens", "5", "--businesses", "1", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/_admin/population/citizens")
                break
            except httpx.TransportError:
                assert process.poll() is None, "mock serve exited"
                assert time.monotonic() < deadline, "mock serve did not start"
                time.sleep(0.1)
        assert answer.json()["total"] == 5
        assert (keys / "population" / "cert.pem").is_file()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    assert b"created a development PKI" in stderr
