"""Both HTTP transports against a real server on 127.0.0.1: bodies, headers, timeouts, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.errors import UpstreamTimeout, UpstreamUnavailable
from connectors.transport import TRANSPORTS, Transport, make_transport
from tests.support.servers import free_port, serve_app


async def _echo(request: Request) -> Response:
    body = await request.body()
    return Response(
        body[::-1],
        status_code=201,
        headers={"X-Got-Header": request.headers.get("x-probe", ""), "Content-Type": "text/plain"},
    )


async def _slow(request: Request) -> Response:
    await asyncio.sleep(1)
    return Response(b"late")


async def _get(request: Request) -> Response:
    return Response(request.url.query.encode(), status_code=200)


APP = Starlette(
    routes=[
        Route("/echo", _echo, methods=["POST"]),
        Route("/slow", _slow, methods=["POST", "GET"]),
        Route("/get", _get, methods=["GET"]),
    ]
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The test server's base URL."""
    with serve_app(APP) as url:
        yield url


@pytest.fixture(params=TRANSPORTS)
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    """Each transport implementation, closed after the test."""
    t = make_transport(request.param, "test-upstream", connect_timeout=1.0)
    yield t
    await t.aclose()


async def test_post_returns_status_lowercase_headers_and_body(
    transport: Transport, base_url: str
) -> None:
    """POST sends the body and headers; the response comes back whole with lower-case names."""
    response = await transport.post(f"{base_url}/echo", b"abc", {"X-Probe": "p1"}, 5.0)
    assert response.status == 201
    assert response.body == b"cba"
    assert response.headers["x-got-header"] == "p1"


async def test_get_sends_the_query(transport: Transport, base_url: str) -> None:
    """GET reaches the server with its query string."""
    response = await transport.get(f"{base_url}/get?maSoDoanhNghiep=0100109106", {}, 5.0)
    assert response.body == b"maSoDoanhNghiep=0100109106"


async def test_session_is_reused_across_requests(transport: Transport, base_url: str) -> None:
    """Many concurrent requests share the one pooled session."""
    results = await asyncio.gather(
        *(transport.post(f"{base_url}/echo", b"%d" % i, {}, 5.0) for i in range(20))
    )
    assert sorted(int(r.body[::-1]) for r in results) == list(range(20))


async def test_slow_answer_becomes_upstream_timeout(transport: Transport, base_url: str) -> None:
    """An answer slower than the time limit is an UpstreamTimeout naming the upstream."""
    with pytest.raises(UpstreamTimeout) as info:
        await transport.post(f"{base_url}/slow", b"", {}, 0.2)
    assert info.value.upstream == "test-upstream"
    assert info.value.retryable


async def test_refused_connection_becomes_upstream_unavailable(transport: Transport) -> None:
    """Nothing listening on the port: UpstreamUnavailable, a transient error."""
    url = f"http://127.0.0.1:{free_port()}/echo"
    with pytest.raises(UpstreamUnavailable) as info:
        await transport.post(url, b"x", {}, 2.0)
    assert info.value.fault_code == "connection_error"


async def test_aclose_then_reuse_opens_a_new_session(transport: Transport, base_url: str) -> None:
    """After aclose() the transport can still be used: it opens a fresh session lazily."""
    await transport.post(f"{base_url}/echo", b"1", {}, 5.0)
    await transport.aclose()
    response = await transport.post(f"{base_url}/echo", b"2", {}, 5.0)
    assert response.body == b"2"


def test_unknown_transport_kind_is_refused() -> None:
    """Only the measured transports can be chosen."""
    with pytest.raises(ValueError, match="unknown transport"):
        make_transport("urllib", "x")


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_transport_survives_a_new_event_loop(kind: str, base_url: str) -> None:
    """Used from a second event loop (a CLI command, a test), the transport opens a new session."""
    t = make_transport(kind, "test-upstream")

    async def once(body: bytes) -> bytes:
        return (await t.post(f"{base_url}/echo", body, {}, 5.0)).body

    assert asyncio.run(once(b"12")) == b"21"
    assert asyncio.run(once(b"34")) == b"43"
    asyncio.run(t.aclose())
