"""The signature middleware and the httpx auth, over a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from security.asgi import HttpSignatureMiddleware
from security.errors import InvalidSignature, SecurityError
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.httpx_auth import HttpSignatureAuth
from security.keys import Credentials, load_party
from security.replay import MemoryReplayCache
from security.trust import TrustStore
from tests.support.security_samples import rogue_credentials
from tests.support.servers import serve_app


async def _echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"client": request.state.client_id, "size": len(body)})


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def _app(keys: Path, server_creds: Credentials, **options: object) -> HttpSignatureMiddleware:
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    inner = Starlette(
        routes=[Route("/echo", _echo, methods=["GET", "POST"]), Route("/healthz", _health)]
    )
    return HttpSignatureMiddleware(
        inner,
        verifier=HttpVerifier(TrustedKeyDirectory(keys, trust), MemoryReplayCache()),
        signer=HttpSigner(server_creds),
        exempt_paths=["/healthz"],
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def base_url(dev_keys: Path) -> Iterator[str]:
    with serve_app(_app(dev_keys, load_party(dev_keys, "adapter"))) as url:
        yield url


def _auth(keys: Path, party: str = "province-app") -> HttpSignatureAuth:
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), None)
    return HttpSignatureAuth(
        HttpSigner(load_party(keys, party)), verifier=verifier, expected_keyid="adapter"
    )


def test_signed_request_reaches_the_app_and_the_response_verifies(
    base_url: str, dev_keys: Path
) -> None:
    """The app sees the caller's keyid; the client verifies the signed response."""
    with httpx.Client(base_url=base_url, auth=_auth(dev_keys), timeout=10) as client:
        response = client.post("/echo?trace=1", json={"citizen_id": "001095000001"})
    assert response.status_code == 200
    assert response.json() == {"client": "province-app", "size": 29}
    assert response.headers["signature-input"].startswith('sig1=("@status"')
    assert '"signature";req;key="sig1"' in response.headers["signature-input"]


async def test_async_client_with_signed_get(base_url: str, dev_keys: Path) -> None:
    """The same auth works on an AsyncClient, for a GET without a body."""
    async with httpx.AsyncClient(
        base_url=base_url, auth=_auth(dev_keys, "ministry"), timeout=10
    ) as client:
        response = await client.get("/echo")
    assert response.json() == {"client": "ministry", "size": 0}


def test_unsigned_request_is_refused_with_problem_json(base_url: str) -> None:
    """An unsigned request never reaches the app: 401 problem+json naming the reason."""
    response = httpx.post(f"{base_url}/echo", json={"a": 1}, timeout=10)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "missing_signature"
    assert "signature" in response.headers  # the refusal is signed too


def test_replayed_request_is_refused(base_url: str, dev_keys: Path) -> None:
    """The same signed request sent twice: the second gets 401 replayed_nonce."""
    body = json.dumps({"a": 1}).encode()
    signer = HttpSigner(load_party(dev_keys, "integrator"))
    headers = {"Content-Type": "application/json"}
    headers.update(signer.sign_request("POST", f"{base_url}/echo", headers, body))
    first = httpx.post(f"{base_url}/echo", content=body, headers=headers, timeout=10)
    second = httpx.post(f"{base_url}/echo", content=body, headers=headers, timeout=10)
    assert first.status_code == 200
    assert second.status_code == 401
    assert second.json()["code"] == "replayed_nonce"


def test_tampered_body_is_refused(base_url: str, dev_keys: Path) -> None:
    """A body changed in transit: 401 digest_mismatch."""
    signer = HttpSigner(load_party(dev_keys, "integrator"))
    headers = signer.sign_request("POST", f"{base_url}/echo", {}, b"original")
    response = httpx.post(f"{base_url}/echo", content=b"forged!!", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "digest_mismatch"


def test_exempt_path_needs_no_signature(base_url: str) -> None:
    """/healthz is exempt: served without a signature and not signed."""
    response = httpx.get(f"{base_url}/healthz", timeout=10)
    assert response.status_code == 200
    assert "signature" not in response.headers


def test_client_refuses_a_response_signed_by_another_key(dev_keys: Path) -> None:
    """A server answering with a key that is not the adapter's: the client raises."""
    with (
        serve_app(_app(dev_keys, rogue_credentials("adapter"))) as url,
        httpx.Client(base_url=url, auth=_auth(dev_keys), timeout=10) as client,
        pytest.raises(InvalidSignature),
    ):
        client.get("/echo")


def test_on_error_hook_renders_refusals(dev_keys: Path) -> None:
    """on_error decides the status, headers and body of a refusal."""

    def render(exc: SecurityError) -> tuple[int, list[tuple[str, str]], bytes]:
        return 403, [("content-type", "text/plain")], f"no: {exc.reason}".encode()

    app = _app(dev_keys, load_party(dev_keys, "adapter"), on_error=render)
    with serve_app(app) as url:
        response = httpx.get(f"{url}/echo", timeout=10)
    assert response.status_code == 403
    assert response.text == "no: missing_signature"


def test_oversized_body_is_refused(dev_keys: Path) -> None:
    """A body over the middleware's limit is refused (413 body_too_large) before verification."""
    app = _app(dev_keys, load_party(dev_keys, "adapter"), max_body=100)
    with (
        serve_app(app) as url,
        httpx.Client(base_url=url, auth=_auth(dev_keys), timeout=10) as client,
    ):
        response = client.post("/echo", content=b"x" * 1000)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
