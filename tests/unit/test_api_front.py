"""The front layer in front of a small FastAPI app: each step the six middleware layers took."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from adapter_api.app import signature_failure
from adapter_api.front import Front
from adapter_api.handlers import install_handlers
from adapter_api.metrics import Metrics
from adapter_api.rate_limits import STATE_KEY
from security.asgi import SignatureGate
from security.http_signatures import (
    HttpSigner,
    HttpVerifier,
    RequestView,
    StaticKeyResolver,
    TrustedKeyDirectory,
)
from security.keys import load_party
from security.replay import MemoryReplayCache
from security.trust import TrustStore

BASE = "http://adapter.example"
FIELDS = [(b"ratelimit-policy", b'"things";q=10;w=60'), (b"ratelimit", b'"things";r=9;t=60')]


class Setup:
    """An app behind the front layer, a client that signs, and a verifier of the answers."""

    def __init__(self, dev_keys: Path, app_class: Callable[[], FastAPI] = FastAPI) -> None:
        trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
        client = load_party(dev_keys, "province-app")
        self.signer = HttpSigner(client)
        self.verifier = HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None)
        self.metrics = Metrics()
        self.calls: list[str] = []
        gate = SignatureGate(
            verifier=HttpVerifier(
                StaticKeyResolver({"province-app": client.certificate}, trust),
                MemoryReplayCache(),
            ),
            signer=HttpSigner(load_party(dev_keys, "adapter")),
            exempt_paths={"/open", "/open/*"},
            on_error=signature_failure,
        )
        self.app = _app(self.calls, app_class)
        self.app.add_middleware(Front, gate=gate, metrics=self.metrics)

    async def send(
        self, method: str, path: str, body: bytes = b"", *, sign: bool = True, **headers: str
    ) -> httpx.Response:
        """``method path`` with ``headers`` (``_`` for ``-``), signed unless ``sign`` is false."""
        fields = {name.replace("_", "-"): value for name, value in headers.items()}
        if sign:
            fields.update(self.signer.sign_request(method, BASE + path, fields, body))
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            return await client.request(method, path, content=body, headers=fields)

    def verified(self, response: httpx.Response, method: str, path: str) -> bool:
        """True when ``response`` carries the adapter's valid signature."""
        request = response.request
        view = RequestView(method, BASE + path, dict(request.headers))
        keyid = self.verifier.verify_response(
            response.status_code,
            response.headers.multi_items(),
            response.content,
            request=view,
            expected_keyid="adapter",
        )
        return keyid == "adapter"

    def counted(self, route: str, method: str, status: int) -> float:
        """``lienthong_http_requests_total`` of ``route``, ``method`` and ``status``."""
        labels = {"route": route, "method": method, "status": str(status)}
        value = self.metrics.registry.get_sample_value("lienthong_http_requests_total", labels)
        return value or 0.0


def _app(calls: list[str], app_class: Callable[[], FastAPI] = FastAPI) -> FastAPI:
    app = app_class()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str, request: Request) -> JSONResponse:
        calls.append(thing_id)
        state = request.scope["state"]
        state[STATE_KEY] = FIELDS
        seen = {"client_id": state["client_id"], "request_id": state["request_id"]}
        return JSONResponse(seen, headers={"X-Request-Id": "the-app-own"})

    @app.post("/v1/things")
    async def post_thing(request: Request) -> JSONResponse:
        return JSONResponse({"body": (await request.body()).decode()})

    @app.post("/open/echo")
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"body": (await request.body()).decode()})

    @app.get("/v1/boom")
    async def boom(request: Request) -> None:
        request.scope["state"][STATE_KEY] = FIELDS
        raise RuntimeError("a bug")

    @app.get("/v1/broken")
    async def broken() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            yield b"a first part"
            raise RuntimeError("a bug midway")

        return StreamingResponse(parts())

    install_handlers(app)
    return app


@pytest.fixture(name="front")
def _front(dev_keys: Path) -> Setup:
    return Setup(dev_keys)


async def test_a_signed_answer_carries_every_step(front: Setup) -> None:
    """Verified caller and request id in the state, RateLimit fields, signed, one X-Request-Id
    (the front's, last), counted by route template."""
    response = await front.send("GET", "/v1/things/7", X_Request_Id="trace-7")
    assert response.status_code == 200
    assert response.json() == {"client_id": "province-app", "request_id": "trace-7"}
    assert response.headers.get_list("x-request-id") == ["trace-7"]
    assert response.headers.raw[-1] == (b"x-request-id", b"trace-7")
    assert (response.headers["ratelimit"], response.headers["ratelimit-policy"]) == (
        '"things";r=9;t=60',
        '"things";q=10;w=60',
    )
    assert front.verified(response, "GET", "/v1/things/7")
    assert front.counted("/v1/things/{thing_id}", "GET", 200) == 1


async def test_a_refused_signature_never_reaches_the_app(front: Setup) -> None:
    """Unsigned: a signed 401 problem with the request id; the app is not called, and the
    request counts as unmatched (routing never ran)."""
    response = await front.send("GET", "/v1/things/8", sign=False, X_Request_Id="trace-8")
    assert response.status_code == 401
    assert response.json()["request_id"] == "trace-8"
    assert response.headers["x-request-id"] == "trace-8"
    assert "ratelimit" not in response.headers
    assert front.calls == []
    assert front.verified(response, "GET", "/v1/things/8")
    assert front.counted("unmatched", "GET", 401) == 1


async def test_two_readings_are_refused_signed(front: Setup) -> None:
    """A repeated key in a signed JSON body: a signed 400 duplicate_key; a sound body reaches
    the app whole."""
    repeated = b'{"a": 1, "a": 2}'
    refused = await front.send("POST", "/v1/things", repeated, content_type="application/json")
    assert (refused.status_code, refused.json()["code"]) == (400, "duplicate_key")
    assert front.verified(refused, "POST", "/v1/things")
    sound = await front.send("POST", "/v1/things", b'{"a": 1}', content_type="application/json")
    assert sound.json() == {"body": '{"a": 1}'}


async def test_an_exempt_path_is_unsigned_but_checked(front: Setup) -> None:
    """Exempt: no signature asked or given, the body handed on whole, the request id echoed,
    the two-readings rules still applied."""
    answered = await front.send("POST", "/open/echo", b'{"b": 2}', sign=False)
    assert answered.json() == {"body": '{"b": 2}'}
    assert "signature" not in answered.headers
    assert answered.headers["x-request-id"]
    refused = await front.send("POST", "/open/echo", b'{"b": 1, "b": 2}', sign=False)
    assert (refused.status_code, refused.json()["code"]) == (400, "duplicate_key")
    assert front.counted("/open/echo", "POST", 200) == 1


async def test_a_bug_is_a_signed_500_problem(front: Setup) -> None:
    """An exception no handler took: 500 internal_error, signed, with the request id and the
    RateLimit fields the call had counted; the message is not echoed."""
    response = await front.send("GET", "/v1/boom", X_Request_Id="trace-9")
    assert response.status_code == 500
    problem = response.json()
    assert (problem["code"], problem["request_id"]) == ("internal_error", "trace-9")
    assert "a bug" not in json.dumps(problem)
    assert response.headers["ratelimit"] == '"things";r=9;t=60'
    assert front.verified(response, "GET", "/v1/boom")
    assert front.counted("/v1/boom", "GET", 500) == 1


async def test_a_bug_after_the_answer_started_is_raised_on(front: Setup) -> None:
    """Once the app has started its answer the error is the server's: nothing half-signed goes
    out (the server's own 500, unsigned), and the request counts as 500."""
    response = await front.send("GET", "/v1/broken")
    assert response.status_code == 500
    assert "signature" not in response.headers
    assert b"a first part" not in response.content
    assert front.counted("/v1/broken", "GET", 500) == 1


async def test_a_request_leaves_no_cyclic_garbage(front: Setup) -> None:
    """Signed and exempt requests leave nothing for the cycle collector: its runs would cost
    every request (and hold memory between them)."""

    async def call(path: str, headers: dict[str, str]) -> int:
        raw = [(b"host", b"adapter.example")]
        raw += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "server": ("127.0.0.1", 8000),
            "headers": raw,
        }
        sent: list[int] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                sent.append(int(message["status"]))  # type: ignore[call-overload]

        await front.app(scope, receive, send)
        return sent[0]

    def signed(path: str) -> dict[str, str]:
        return front.signer.sign_request("GET", BASE + path, {}, b"")

    assert await call("/v1/things/1", signed("/v1/things/1")) == 200  # warm: caches filled
    assert await call("/open/none", {}) == 404
    gc.collect()
    gc.disable()
    try:
        statuses = [await call("/v1/things/2", signed("/v1/things/2"))]
        statuses.append(await call("/open/none", {}))
        assert statuses == [200, 404]
        assert gc.collect() == 0
    finally:
        gc.enable()
