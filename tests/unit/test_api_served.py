"""The adapter app hands HTTP requests to its front layer directly (``adapter_api.served``),
and answers them as FastAPI's whole stack above the front layer answers them.

The same small app behind the front layer (``tests/unit/test_api_front.py``) is built twice as
an :class:`AdapterApp`: the first takes the short way, the second is turned to FastAPI's whole
stack (``without_fast_paths``). Every kind of answer — signed, refused, exempt, a bug answered
as a problem, a bug after the answer started, a bug in the front layer's own steps — must be the
same on both, but for what differs on every answer (the request id, the signature, the time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from adapter_api.routes.fast_path import without_fast_paths
from adapter_api.served import AdapterApp, front_below
from security.http_signatures import HttpVerifier
from tests.unit.test_api_front import BASE, Setup


def _adapter_app() -> AdapterApp:
    """An app as ``create_app`` makes it: FastAPI's telemetry off."""
    return AdapterApp(telemetry={"tracing": False, "metrics": False, "logs": False})


_DIFFERING = frozenset({"x-request-id", "signature", "signature-input", "content-digest"})
Sent = Callable[[Setup], Awaitable[httpx.Response]]


def _answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in _DIFFERING]
    body = response.content
    if response.headers.get("content-type") == "application/problem+json":
        problem = response.json()
        problem.pop("request_id", None)
        body = repr(sorted(problem.items())).encode()
        headers = [(k, v) for k, v in headers if k != "content-length"]
    return response.status_code, headers, body


@pytest.fixture(name="pair")
def _pair(dev_keys: Path) -> tuple[Setup, Setup]:
    short, whole = Setup(dev_keys, _adapter_app), Setup(dev_keys, _adapter_app)
    without_fast_paths(whole.app)
    return short, whole


def _signed(method: str, path: str, body: bytes = b"", **headers: str) -> Sent:
    async def send(setup: Setup) -> httpx.Response:
        return await setup.send(method, path, body, **headers)

    return send


def _unsigned(method: str, path: str, body: bytes = b"") -> Sent:
    async def send(setup: Setup) -> httpx.Response:
        return await setup.send(method, path, body, sign=False)

    return send


REQUESTS: dict[str, Sent] = {
    "signed": _signed("GET", "/v1/things/7", X_Request_Id="trace-7"),
    "unsigned": _unsigned("GET", "/v1/things/8"),
    "duplicate key": _signed(
        "POST", "/v1/things", b'{"a": 1, "a": 2}', content_type="application/json"
    ),
    "sound body": _signed("POST", "/v1/things", b'{"a": 1}', content_type="application/json"),
    "exempt": _unsigned("POST", "/open/echo", b'{"b": 2}'),
    "not found": _signed("GET", "/v1/nothing"),
    "bug": _signed("GET", "/v1/boom"),
    "bug after the start": _signed("GET", "/v1/broken"),
}


@pytest.mark.parametrize("case", list(REQUESTS))
async def test_the_short_way_answers_as_the_whole_stack(
    pair: tuple[Setup, Setup], case: str
) -> None:
    """The same answer, the same request counts, on either way."""
    short, whole = pair
    answers = [_answer(await REQUESTS[case](setup)) for setup in pair]
    assert answers[0] == answers[1]
    assert isinstance(short.app, AdapterApp)
    assert short.app._front is not None  # the short way was taken
    assert front_below(short.app.middleware_stack) is short.app._front  # type: ignore[arg-type]
    samples = [
        sorted(
            (tuple(sorted(sample.labels.items())), sample.value)
            for metric in setup.metrics.registry.collect()
            if metric.name == "lienthong_http_requests"
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
        for setup in pair
    ]
    assert samples[0] == samples[1]
    assert whole.calls == short.calls


async def test_a_bug_in_the_front_layer_is_a_plain_500_either_way(
    pair: tuple[Setup, Setup], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception that escapes the front layer's own steps (here the signature check) is
    answered as Starlette's ServerErrorMiddleware answers it — a plain 500 — and raised on to
    the server, on the short way as on the whole stack."""

    def broken(self: HttpVerifier, request: Any, body: bytes) -> Any:
        raise RuntimeError("a bug in the front")

    monkeypatch.setattr(HttpVerifier, "verify_view", broken)
    answers = [_answer(await _signed("GET", "/v1/things/9")(setup)) for setup in pair]
    assert answers[0] == answers[1]
    assert answers[0][0] == 500
    assert answers[0][2] == b"Internal Server Error"
    for setup in pair:
        signed = setup.signer.sign_request("GET", f"{BASE}/v1/things/9", {}, b"")
        transport = httpx.ASGITransport(app=setup.app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            with pytest.raises(RuntimeError, match="a bug in the front"):
                await client.get("/v1/things/9", headers=signed)


async def test_only_passing_layers_may_be_skipped(dev_keys: Path) -> None:
    """With another layer above the front layer, a debug page or a 500 handler of its own, the
    app takes FastAPI's whole stack."""

    class Outer:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.app(scope, receive, send)

    def outer(app: FastAPI) -> None:
        app.add_middleware(Outer)

    def debug(app: FastAPI) -> None:
        app.debug = True

    def handler(app: FastAPI) -> None:
        async def on_500(request: Any, exc: Exception) -> Any:
            raise exc

        app.add_exception_handler(500, on_500)

    def telemetry(app: FastAPI) -> None:
        app._native_telemetry.config["tracing"] = True

    for change in (outer, debug, handler, telemetry):
        setup = Setup(dev_keys, _adapter_app)
        change(setup.app)
        response = await setup.send("GET", "/v1/things/3")
        assert response.status_code == 200
        assert setup.app._front is None  # type: ignore[attr-defined]
    plain = Setup(dev_keys, _adapter_app)
    assert (await plain.send("GET", "/v1/things/4")).status_code == 200
    assert plain.app._front is not None  # type: ignore[attr-defined]
