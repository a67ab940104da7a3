"""Who may call: signatures (401), allow-lists (403), and the signed answers, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from security.http_signatures import HttpSigner, HttpVerifier, RequestView, TrustedKeyDirectory
from security.keys import load_party
from security.trust import TrustStore
from tests.e2e.api_harness import Sandbox, running_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """The adapter + mocks with the sandbox clients (province-app, ministry, integrator)."""
    with running_sandbox(tmp_path_factory.mktemp("api_auth"), dev_keys) as running:
        yield running


def _signed(
    sandbox: Sandbox, party: str, method: str, path: str, body: bytes = b""
) -> httpx.Request:
    url = sandbox.base_url + path
    headers = {"content-type": "application/json"} if body else {}
    signer = HttpSigner(load_party(sandbox.keys_dir, party), ttl=60)
    headers.update(signer.sign_request(method, url, headers, body))
    return httpx.Request(method, url, headers=headers, content=body)


def _assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"urn:lienthong:problem:{code}"
    assert problem["title"]
    assert problem["detail"]


def test_unsigned_request_is_401_and_the_refusal_is_signed(sandbox: Sandbox) -> None:
    """No signature: 401 missing_signature, as a problem document the adapter signed."""
    request = httpx.Request("GET", sandbox.base_url + "/v1/services")
    with httpx.Client() as client:
        response = client.send(request)
    _assert_problem(response, 401, "missing_signature")
    assert response.json()["request_id"] == response.headers["x-request-id"]
    trust = TrustStore.from_pem_file(sandbox.keys_dir / "ca" / "cert.pem")
    verifier = HttpVerifier(TrustedKeyDirectory(sandbox.keys_dir, trust), None)
    signer = verifier.verify_response(
        response.status_code,
        response.headers,
        response.content,
        request=RequestView("GET", str(request.url), request.headers),
        expected_keyid="adapter",
    )
    assert signer == "adapter"


def test_unknown_client_is_401(sandbox: Sandbox) -> None:
    """A valid signature by a party that is not a registered client is refused."""
    with httpx.Client() as client:
        response = client.send(_signed(sandbox, "population", "GET", "/v1/services"))
    _assert_problem(response, 401, "unknown_key")


def test_tampered_body_is_401(sandbox: Sandbox) -> None:
    """A body changed after signing fails its digest."""
    request = _signed(sandbox, "province-app", "POST", "/v1/citizens/verify", b'{"a":1}')
    tampered = httpx.Request("POST", request.url, headers=request.headers, content=b'{"a":2}')
    with httpx.Client() as client:
        response = client.send(tampered)
    _assert_problem(response, 401, "digest_mismatch")


def test_wrong_key_is_401(sandbox: Sandbox) -> None:
    """A request signed with one party's key but naming another as keyid does not verify."""
    url = sandbox.base_url + "/v1/services"
    signer = HttpSigner(load_party(sandbox.keys_dir, "integrator"), ttl=60, keyid="province-app")
    headers = signer.sign_request("GET", url, {}, b"")
    with httpx.Client() as client:
        response = client.get(url, headers=headers)
    _assert_problem(response, 401, "invalid_signature")


def test_replayed_request_is_401(sandbox: Sandbox) -> None:
    """The same signed request sent twice: the second is refused as a replay."""
    request = _signed(sandbox, "province-app", "GET", "/v1/services")
    with httpx.Client() as client:
        first = client.send(request)
        second = client.send(_signed_copy(request))
    assert first.status_code == 200
    _assert_problem(second, 401, "replayed_nonce")


def _signed_copy(request: httpx.Request) -> httpx.Request:
    return httpx.Request(request.method, request.url, headers=request.headers, content=b"")


def test_expired_signature_is_401(sandbox: Sandbox) -> None:
    """A signature created ten minutes ago has expired."""
    url = sandbox.base_url + "/v1/services"
    past = time.time() - 600
    signer = HttpSigner(load_party(sandbox.keys_dir, "province-app"), ttl=60, clock=lambda: past)
    with httpx.Client() as client:
        response = client.get(url, headers=signer.sign_request("GET", url, {}, b""))
    _assert_problem(response, 401, "stale_timestamp")


@pytest.mark.parametrize(
    ("party", "method", "path", "status"),
    [
        ("province-app", "GET", "/v1/services", 200),
        ("ministry", "GET", "/v1/services", 200),
        ("integrator", "GET", "/v1/services", 200),
        ("ministry", "GET", "/v1/businesses/0100109106", 403),
        ("integrator", "GET", "/v1/access-log/001085000123", 403),
        ("ministry", "GET", "/v1/access-log/001085000123", 403),
        ("province-app", "GET", "/v1/access-log/001085000123", 200),
        ("ministry", "POST", "/v1/citizens/verify", 403),
        ("integrator", "GET", "/v1/dossiers", 200),
        ("ministry", "GET", "/v1/dossiers", 200),
    ],
)
def test_allow_lists_per_role(
    sandbox: Sandbox, party: str, method: str, path: str, status: int
) -> None:
    """Each role gets exactly what its allow-list grants; the rest is 403 operation_not_allowed."""
    with sandbox.client(party) as client:
        response = client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["code"] == "operation_not_allowed"


def test_services_catalogue_shows_the_caller(sandbox: Sandbox) -> None:
    """The catalogue lists the three connectors with operations and health, and the caller."""
    with sandbox.client("ministry") as client:
        body = client.get("/v1/services").json()
    names = {service["name"]: service for service in body["services"]}
    assert set(names) == {"population", "registry", "portal"}
    assert "GetCitizen" in names["population"]["operations"]
    assert names["population"]["protocol"] == "soap"
    assert names["registry"]["health"]["state"] == "closed"
    assert body["client"]["id"] == "ministry"
    assert body["client"]["sectors"] == ["TP.CT", "TP.HT", "TP.LLTP"]
