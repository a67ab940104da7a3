"""The head of a request is built once per operation, and ``HttptoolsTransport.post`` awaits the
pool itself: the bytes on the wire and the errors are those of before.

``ConnectionPool.request`` keeps the start of a request's head (request line, ``Host``, the
caller's headers) by method, URL and header items, and adds ``Content-Length`` per request. The
previous builder is kept here as the reference: for any method, URL, headers and body, sent
once or again, the server reads the reference's head and the body; a header that cannot be
sent is refused every time, before anything is sent. ``HttptoolsTransport.post`` finds the pool
of its loop without ``_exchange``: it opens one after ``aclose`` and in another loop, bounds the
time when asked, and translates failures as ``get`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.errors import UpstreamTimeout, UpstreamUnavailable
from connectors.http_client import ConnectionPool, Target
from connectors.transport import HttptoolsTransport
from tests.integration.test_connectors_http_client import RawServer, ok


def reference_head(
    method: str, target: Target, headers: Mapping[str, str], body: bytes | None
) -> bytes:
    """``connectors.http_client._request_head`` before this change, unchanged."""
    lines = [f"{method} {target.target} HTTP/1.1\r\nHost: {target.authority}\r\n"]
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in ("host", "content-length", "connection", "transfer-encoding"):
            continue
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError("a header cannot span lines")
        lines.append(f"{name}: {value}\r\n")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def _reference_outcome(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None
) -> bytes | type[Exception]:
    """The reference's head, or the class of the error it raises."""
    try:
        return reference_head(method, Target.parse(url), headers, body)
    except Exception as exc:
        return type(exc)


_NAMES = st.sampled_from(
    ["Content-Type", "SOAPAction", "host", "Content-Length", "CONNECTION", "X-A", "x-a", "X-É"]
)
_VALUES = st.one_of(
    st.sampled_from(["text/xml; charset=utf-8", '"urn:a#GetCitizen"', "", "a b", "é", "ā"]),
    st.text(alphabet=st.sampled_from("ab \t\r\n:é"), max_size=4),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    requests=st.lists(
        st.tuples(
            st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH"]),
            st.sampled_from(["/soap", "/soap?x=1", "/"]),
            st.dictionaries(_NAMES, _VALUES, max_size=3),
            st.one_of(st.none(), st.binary(max_size=8)),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_heads_are_those_of_the_reference_builder(
    requests: list[tuple[str, str, dict[str, str], bytes | None]],
) -> None:
    """Any requests, repeated or not: the same bytes sent, or the same error before sending."""

    async def scenario() -> None:
        server = RawServer(lambda request, n: ok(b"x"))
        pool = ConnectionPool(max_connections=2)
        try:
            async with server as base:
                for _ in range(2):  # the second time from what the pool kept
                    for method, path, headers, body in requests:
                        url = base + path
                        expected = _reference_outcome(method, url, headers, body)
                        sent = len(server.requests)
                        if isinstance(expected, bytes):
                            answer = await pool.request(method, url, headers, body)
                            assert answer.status == 200
                            assert server.requests[sent:] == [expected + (body or b"")]
                        else:
                            with pytest.raises(expected):
                                await pool.request(method, url, headers, body)
                            assert len(server.requests) == sent
        finally:
            pool.close()

    asyncio.run(scenario())


async def test_headers_changed_in_place_are_sent_as_they_are_now() -> None:
    """The start of a head is found by the headers' items, not by the mapping: a mapping changed
    between two requests sends its new items."""
    server = RawServer(lambda request, n: ok(b"x"))
    pool = ConnectionPool(max_connections=2)
    headers = {"SOAPAction": '"a"'}
    try:
        async with server as base:
            await pool.request("POST", f"{base}/", headers, b"1")
            headers["SOAPAction"] = '"b"'
            await pool.request("POST", f"{base}/", headers, b"22")
            headers["X-Bad"] = "a\r\nInjected: 1"
            with pytest.raises(ValueError, match="span lines"):
                await pool.request("POST", f"{base}/", headers, b"1")
            odd: dict[str, object] = {"X-List": ["a"]}  # a value that cannot be hashed
            await pool.request("POST", f"{base}/", odd, b"")  # type: ignore[arg-type]
            target = Target.parse(f"{base}/")
    finally:
        pool.close()
    assert server.requests == [
        reference_head("POST", target, {"SOAPAction": '"a"'}, b"1") + b"1",
        reference_head("POST", target, {"SOAPAction": '"b"'}, b"22") + b"22",
        reference_head("POST", target, odd, b""),  # type: ignore[arg-type]
    ]


async def test_post_finds_the_pool_of_its_loop_and_translates_failures() -> None:
    transport = HttptoolsTransport("test-upstream", max_connections=2)
    server = RawServer(lambda request, n: ok(request.rsplit(b"\r\n\r\n", 1)[1]))
    try:
        async with server as base:
            assert (await transport.post(f"{base}/", b"one", {}, None)).body == b"one"
            first = transport._client
            assert (await transport.post(f"{base}/", b"two", {}, 2.0)).body == b"two"
            assert transport._client is first
            await transport.aclose()
            assert (await transport.post(f"{base}/", b"three", {}, None)).body == b"three"
            assert transport._client is not None
            assert transport._client is not first
        async with RawServer(lambda request, n: b"not http\r\n\r\n") as base:
            with pytest.raises(UpstreamUnavailable) as refused:
                await transport.post(f"{base}/", b"x", {}, None)
        assert refused.value.fault_code == "connection_error"
        released = asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await released.wait()
            writer.close()

        listening = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        with pytest.raises(UpstreamTimeout) as timed_out:
            await transport.post(f"http://127.0.0.1:{port}/", b"x", {}, 0.2)
        assert timed_out.value.fault_code == "timeout"
        released.set()
        listening.close()
        await listening.wait_closed()
        with pytest.raises(UpstreamUnavailable):  # refused: nothing listens there any more
            await transport.post(f"http://127.0.0.1:{port}/", b"x", {}, None)
    finally:
        await transport.aclose()


def test_post_in_another_loop_opens_a_pool_there() -> None:
    transport = HttptoolsTransport("test-upstream")
    pools = []

    async def once() -> bytes:
        async with RawServer(lambda request, n: ok(b"ok")) as base:
            answer = await transport.post(f"{base}/", b"x", {}, None)
        pools.append(transport._client)
        return answer.body

    assert asyncio.run(once()) == b"ok"
    assert uvloop.run(once()) == b"ok"
    assert pools[0] is not pools[1]
