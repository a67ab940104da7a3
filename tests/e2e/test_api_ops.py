"""Operations over real HTTP: health, readiness, metrics, the OpenAPI document, request ids."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.api_harness import OFFICIAL, Sandbox, register_dossier, running_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """The adapter + mocks with the sandbox clients."""
    with running_sandbox(tmp_path_factory.mktemp("api_ops"), dev_keys) as running:
        yield running


def test_healthz_and_readyz_need_no_signature(sandbox: Sandbox) -> None:
    """Probes are unsigned; readiness reports keys, store and each upstream's breaker."""
    alive = httpx.get(sandbox.base_url + "/healthz")
    ready = httpx.get(sandbox.base_url + "/readyz")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert ready.json()["ready"] is True
    assert checks["keys"]["ok"]
    assert checks["store"]["ok"]
    assert checks["upstream:population"]["detail"] == "closed"


def test_readyz_fails_when_keys_cannot_be_loaded(sandbox: Sandbox) -> None:
    """A readiness check that fails makes /readyz answer 503 with the failing check named."""

    async def broken() -> tuple[bool, str]:
        raise OSError("gone")

    checks = sandbox.container.readiness
    checks["keys-test"] = broken
    try:
        response = httpx.get(sandbox.base_url + "/readyz")
    finally:
        del checks["keys-test"]
    assert response.status_code == 503
    assert response.json()["checks"]["keys-test"] == {
        "ok": False,
        "detail": "OSError",
        "critical": True,
    }


def test_metrics_count_routes_upstreams_breakers_and_outbox(sandbox: Sandbox) -> None:
    """After a lookup, /metrics has requests by route template, upstream calls, breakers, outbox."""
    citizen = sandbox.citizens(1)[0]
    with sandbox.client() as client:
        issue = register_dossier(client, persons=[citizen["citizen_id"]])
        looked = client.get(
            f"/v1/citizens/{citizen['citizen_id']}",
            headers={"X-User-Id": OFFICIAL, "X-Issue": issue},
        )
        assert looked.status_code == 200
    text = httpx.get(sandbox.base_url + "/metrics").text
    assert (
        'lienthong_http_requests_total{method="GET",route="/v1/citizens/{citizen_id}",status="200"}'
        in text
    )
    assert (
        'lienthong_upstream_calls_total{operation="GetCitizen",result="ok",upstream="population"}'
        in text
    )
    assert 'lienthong_upstream_call_seconds_bucket{le="0.5",operation="GetCitizen"' in text
    assert 'lienthong_upstream_breaker_state{upstream="population"} 0.0' in text
    assert "lienthong_outbox_depth " in text
    assert citizen["citizen_id"] not in text


def _exchange_lines(text: str, upstream: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line.startswith("lienthong_upstream_exchanges_total{")
        and f'upstream="{upstream}"' in line
    ]


def test_metrics_cover_every_national_system_and_the_queue(sandbox: Sandbox) -> None:
    """Attempts of all three upstreams (the portal's made by the sync worker) are counted with
    their outcome and latency; the queue's states, dead letters, oldest wait and the records'
    refresh lag are gauges."""
    citizen = sandbox.citizens(3)[2]
    business = sandbox.businesses(1)[0]
    with sandbox.client() as client:
        issue = register_dossier(client)
        client.get(
            f"/v1/citizens/{citizen['citizen_id']}",
            headers={"X-User-Id": OFFICIAL, "X-Issue": issue},
        )
        assert client.get(f"/v1/businesses/{business['tax_code']}").status_code == 200
    text = ""
    for _ in range(100):  # the worker delivers the dossier to the portal mock
        text = httpx.get(sandbox.base_url + "/metrics").text
        if _exchange_lines(text, "portal"):
            break
        time.sleep(0.1)
    assert _exchange_lines(text, "portal"), "no portal attempt counted"
    assert any('outcome="ok"' in line for line in _exchange_lines(text, "population"))
    assert any('outcome="ok"' in line for line in _exchange_lines(text, "registry"))
    assert 'lienthong_upstream_exchange_seconds_bucket{le="0.5"' in text
    for sample in (
        'lienthong_outbox_items{state="pending"}',
        'lienthong_outbox_items{state="dead"}',
        'lienthong_outbox_dossiers{state="in_flight"}',
        "lienthong_outbox_dead_letters ",
        "lienthong_outbox_oldest_pending_age_seconds ",
    ):
        assert sample in text
    assert citizen["citizen_id"] not in text


def test_request_id_is_correlation_only_the_adapter_makes_message_ids(sandbox: Sandbox) -> None:
    """X-Request-Id comes back and is logged, but the upstream message id is the adapter's own:
    two lookups sent with the same request id never share a message id."""
    rid = str(uuid.uuid4())
    citizen = sandbox.citizens(2)[1]
    with sandbox.client() as client:
        issue = register_dossier(client, persons=[citizen["citizen_id"]])
        responses = [
            client.get(
                f"/v1/citizens/{citizen['citizen_id']}",
                headers={"X-User-Id": OFFICIAL, "X-Issue": issue, "X-Request-Id": rid},
            )
            for _ in range(2)
        ]
        log = client.get(f"/v1/access-log/{citizen['citizen_id']}").json()
        generated = client.get("/v1/services")
    assert [r.headers["x-request-id"] for r in responses] == [rid, rid]
    entries = [e for e in log["entries"] if e["request_id"] == rid]
    assert len(entries) == 2
    message_ids = {e["message_id"] for e in entries}
    assert len(message_ids) == 2
    assert rid not in message_ids
    assert all(uuid.UUID(m).version == 4 for m in message_ids)
    uuid.UUID(generated.headers["x-request-id"])


def test_unknown_route_and_method_are_problems(sandbox: Sandbox) -> None:
    """Routing failures are problem documents too: 404 not_found, 405 with Allow."""
    with sandbox.client() as client:
        missing = client.get("/v1/nothing-here")
        wrong = client.delete("/v1/services")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert missing.headers["content-type"] == "application/problem+json"
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
    assert "GET" in wrong.headers["allow"]


def test_openapi_documents_every_status_as_problem(sandbox: Sandbox) -> None:
    """Every /v1 operation lists 401/403/422/500 as problem+json; upstream routes 502–504."""
    doc = httpx.get(sandbox.base_url + "/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    operations = [
        (path, method, op)
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
        if path.startswith("/v1")
    ]
    assert len(operations) >= 9
    for path, method, op in operations:
        for status in ("401", "403", "422", "500"):
            content = op["responses"][status]["content"]
            assert list(content) == ["application/problem+json"], (path, method, status)
        assert op["security"] == [{"HttpMessageSignature": []}]
    citizen = doc["paths"]["/v1/citizens/{citizen_id}"]["get"]["responses"]
    assert {"200", "404", "502", "503", "504"} <= set(citizen)
    params = {p["name"] for p in doc["paths"]["/v1/citizens/{citizen_id}"]["get"]["parameters"]}
    assert {"X-User-Id", "X-Issue", "citizen_id"} <= params
