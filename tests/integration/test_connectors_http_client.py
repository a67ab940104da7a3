"""The lean HTTP/1.1 client under the default transport, against raw servers on 127.0.0.1.

The servers here are plain asyncio servers that answer with exact bytes, so the edge cases of
HTTP/1.1 framing (chunked bodies, bodies delimited by the end of the connection, a keep-alive
connection the server closes while it is idle) are exercised as they come off the wire.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.errors import UpstreamTimeout, UpstreamUnavailable
from connectors.http_client import BodyTooLarge, ConnectionPool, HttpProtocolError, Target
from connectors.transport import HttptoolsTransport

#: answers a whole request (head and body as bytes; the request's number on its connection,
#: from 0) with the bytes to send back, or None to close the connection without answering
Responder = Callable[[bytes, int], bytes | None]


class RawServer:
    """A TCP server that reads each HTTP request whole and writes back what ``respond`` says."""

    def __init__(self, respond: Responder, *, close_after: bool = False) -> None:
        self.respond = respond
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        for writer in self.writers:
            writer.close()
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(request)
                answer = self.respond(request, served)
                served += 1
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def ok(body: bytes, *extra: bytes) -> bytes:
    headers = b"".join(line + b"\r\n" for line in extra)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), headers, body)


@pytest.fixture
async def pool() -> AsyncIterator[ConnectionPool]:
    """A pool on the running loop, closed after the test."""
    made = ConnectionPool(max_connections=4, connect_timeout=2.0, max_body=1024)
    yield made
    made.close()


def test_target_keeps_the_authority_a_signature_covers() -> None:
    """The Host header is the URL's authority: the port only when it is not the default."""
    assert Target.parse("http://127.0.0.1:8001/a?b=1").authority == "127.0.0.1:8001"
    assert Target.parse("https://example.vn/a").authority == "example.vn"
    assert Target.parse("http://example.vn:80/x?q=1").target == "/x?q=1"
    with pytest.raises(ValueError, match="absolute http"):
        Target.parse("ftp://example.vn/")


async def test_request_sends_host_length_and_headers(pool: ConnectionPool) -> None:
    """The request carries Host, Content-Length and the given headers; the answer comes whole."""
    server = RawServer(lambda request, n: ok(b"pong", b"X-Answer: yes"))
    async with server as base:
        status, headers, body = await pool.request("POST", f"{base}/p?q=1", {"X-A": "1"}, b"ping")
    assert (status, body, headers["x-answer"]) == (200, b"pong", "yes")
    head = server.requests[0]
    assert head.startswith(b"POST /p?q=1 HTTP/1.1\r\n")
    assert f"Host: {base.removeprefix('http://')}\r\n".encode() in head
    assert b"Content-Length: 4\r\n" in head
    assert b"X-A: 1\r\n" in head
    assert head.endswith(b"ping")


async def test_keep_alive_connection_is_reused(pool: ConnectionPool) -> None:
    """Sequential requests to one origin share one connection."""
    server = RawServer(lambda request, n: ok(b"x"))
    async with server as base:
        for _ in range(5):
            await pool.request("GET", f"{base}/", {}, None)
    assert server.connections == 1


async def test_chunked_body_is_reassembled(pool: ConnectionPool) -> None:
    """A chunked answer is read to its last chunk."""
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    async with RawServer(lambda request, n: answer) as base:
        _, _, body = await pool.request("GET", f"{base}/", {}, None)
    assert body == b"abcde"


async def test_body_delimited_by_connection_close(pool: ConnectionPool) -> None:
    """An answer with neither length nor chunks ends where the server closes the connection."""
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"
    async with RawServer(lambda request, n: answer, close_after=True) as base:
        _, _, body = await pool.request("GET", f"{base}/", {}, None)
    assert body == b"until the end"


async def test_request_on_a_connection_closed_while_idle_is_sent_again(
    pool: ConnectionPool,
) -> None:
    """A kept connection the server closes instead of answering: the request goes out again on
    a new connection (the server never read it), and only then."""
    server = RawServer(lambda request, n: ok(b"x") if n == 0 else None)
    async with server as base:
        await pool.request("GET", f"{base}/", {}, None)
        status, _, body = await pool.request("POST", f"{base}/", {}, b"again")
    assert (status, body) == (200, b"x")
    assert [r.endswith(b"again") for r in server.requests] == [False, True, True]
    assert server.connections == 2


async def test_no_answer_on_a_new_connection_is_a_connection_error(pool: ConnectionPool) -> None:
    """A fresh connection closed without an answer is not retried: ConnectionError."""
    async with RawServer(lambda request, n: None) as base:
        with pytest.raises(ConnectionError):
            await pool.request("POST", f"{base}/", {}, b"x")


async def test_malformed_answer_is_a_protocol_error(pool: ConnectionPool) -> None:
    """Bytes that are not an HTTP response raise HttpProtocolError."""
    async with RawServer(lambda request, n: b"SMTP ready\r\n\r\n") as base:
        with pytest.raises(HttpProtocolError):
            await pool.request("GET", f"{base}/", {}, None)


async def test_oversized_body_is_refused(pool: ConnectionPool) -> None:
    """A body larger than the pool's limit raises BodyTooLarge and the connection is dropped."""
    async with RawServer(lambda request, n: ok(b"x" * 2048)) as base:
        with pytest.raises(BodyTooLarge):
            await pool.request("GET", f"{base}/", {}, None)


async def test_header_values_cannot_span_lines(pool: ConnectionPool) -> None:
    """A header value with a line break is refused before anything is sent."""
    server = RawServer(lambda request, n: ok(b"x"))
    async with server as base:
        with pytest.raises(ValueError, match="span lines"):
            await pool.request("GET", f"{base}/", {"X-Bad": "a\r\nInjected: 1"}, None)
    assert server.requests == []


async def test_transport_maps_failures_to_the_error_tree() -> None:
    """Through the transport: silence is UpstreamTimeout, garbage UpstreamUnavailable."""
    transport = HttptoolsTransport("test-upstream", max_connections=2)
    try:
        async with RawServer(lambda request, n: b"not http\r\n\r\n") as base:
            with pytest.raises(UpstreamUnavailable) as refused:
                await transport.get(f"{base}/", {}, 2.0)
        assert refused.value.fault_code == "connection_error"
        server = asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.wait()
            writer.close()

        listening = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        with pytest.raises(UpstreamTimeout):
            await transport.get(f"http://127.0.0.1:{port}/", {}, 0.2)
        server.set()
        listening.close()
        await listening.wait_closed()
    finally:
        await transport.aclose()


def test_transport_runs_on_uvloop() -> None:
    """On uvloop (how ``lienthong serve`` runs) requests go through and connections are kept."""

    async def scenario() -> tuple[int, int]:
        transport = HttptoolsTransport("test-upstream")
        server = RawServer(lambda request, n: ok(request.rsplit(b"\r\n\r\n", 1)[1][::-1]))
        try:
            async with server as base:
                answers = await asyncio.gather(
                    *(transport.post(f"{base}/", b"%d" % i, {}, 5.0) for i in range(10))
                )
                await transport.post(f"{base}/", b"1", {}, 5.0)
        finally:
            await transport.aclose()
        assert sorted(int(a.body[::-1]) for a in answers) == list(range(10))
        return server.connections, len(server.requests)

    connections, requests = uvloop.run(scenario())
    assert requests == 11
    assert connections <= 10  # the last request reused a kept connection


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_origins_are_reached_over_tls(tmp_path: Path) -> None:
    """An https URL is requested over TLS, the server's certificate checked against the
    client's trust (a certificate it does not trust is a connection failure)."""
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    handler = RawServer(lambda request, n: ok(b"secret"))
    server = await asyncio.start_server(handler._handle, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    pool = ConnectionPool(ssl_context=trusting)
    untrusting = ConnectionPool()
    try:
        status, _, body = await pool.request("GET", f"https://127.0.0.1:{port}/", {}, None)
        with pytest.raises(ssl.SSLError):
            await untrusting.request("GET", f"https://127.0.0.1:{port}/", {}, None)
    finally:
        pool.close()
        untrusting.close()
        for writer in handler.writers:
            writer.close()
        server.close()
        await server.wait_closed()
    assert (status, body) == (200, b"secret")


async def test_idle_connections_past_keepalive_are_closed() -> None:
    """A connection idle for longer than ``keepalive`` is closed, not reused."""
    server = RawServer(lambda request, n: ok(b"x"))
    pool = ConnectionPool(keepalive=0.05)
    try:
        async with server as base:
            await asyncio.gather(*(pool.request("GET", f"{base}/", {}, None) for _ in range(3)))
            await asyncio.sleep(0.1)
            await pool.request("GET", f"{base}/", {}, None)
    finally:
        pool.close()
    assert server.connections == 4
