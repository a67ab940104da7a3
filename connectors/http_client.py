"""A lean HTTP/1.1 client: keep-alive connections per origin, responses parsed by httptools.

The connectors send one request at a time per connection and read whole bodies; that is all this
client does, on asyncio protocols (uvloop's when it runs the loop) with the ``httptools`` parser
uvicorn uses. Measured on this machine it spends about a third of the CPU ``aiohttp`` spends per
request (``bench/connector_bench.py``). What it does not do, on purpose: redirects (a signed
request is bound to its target), compression, proxies from the environment, cookies.

* :class:`ConnectionPool` keeps idle connections per ``(scheme, host, port)``, LIFO, at most
  ``max_connections`` open; a connection idle for longer than ``keepalive`` is closed rather than
  reused (servers close idle ones too: uvicorn after 5 s).
* A request sent on a reused connection that the server had already closed (no byte of an answer
  came back) is sent once more on a new connection: the server never read it.
* Errors are the standard ones: ``TimeoutError`` (the caller's ``asyncio.timeout``),
  ``ConnectionError``/``OSError`` for a refused or lost connection, :class:`HttpProtocolError`
  for a malformed answer, :class:`BodyTooLarge`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, cast
from urllib.parse import urlsplit

import httptools

from connectors.slots import Slots

DEFAULT_PORTS = {"http": 80, "https": 443}


class HttpResponse(NamedTuple):
    """What came back: the status, the headers (lower-case names) and the body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class HttpProtocolError(Exception):
    """The server's answer is not valid HTTP/1.1."""


class BodyTooLarge(Exception):
    """The answer's body is larger than the client accepts."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points: origin (for the pool), ``Host`` header value, request target."""

    scheme: str
    host: str
    port: int
    authority: str
    target: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("only absolute http and https URLs can be requested")
        port = parts.port or DEFAULT_PORTS[scheme]
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        authority = shown if port == DEFAULT_PORTS[scheme] else f"{shown}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(scheme, host, port, authority, target)


#: what a connection's answer resolves to: status, headers, body, and whether to keep it open
_Answer = tuple[int, dict[str, str], bytes, bool]


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``exchange`` sends a request and waits for the whole answer."""

    def __init__(self, max_body: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._max_body = max_body
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[_Answer] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._received = False
        self._headers_done = False
        self._complete = False
        self._too_large = False

    # -- asyncio protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(HttpProtocolError("the server switched protocols"))
        except httptools.HttpParserError:
            if self._too_large:  # raised in on_body, wrapped by the parser
                self._fail(BodyTooLarge(f"the response body is larger than {self._max_body} bytes"))
            else:
                self._fail(HttpProtocolError("malformed HTTP response"))

    def eof_received(self) -> bool | None:
        self._finish_at_eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._finish_at_eof()
        self._fail(ConnectionResetError("the server closed the connection"))

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        self._headers = {}
        self._body = []
        self._size = 0
        self._headers_done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:
            self._too_large = True
            raise BodyTooLarge
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._answer(keep=self._parser.should_keep_alive())

    # -- use
    def _answer(self, *, keep: bool) -> None:
        self._complete = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                status = self._parser.get_status_code()
                waiter.set_result((status, self._headers, b"".join(self._body), keep))

    def _finish_at_eof(self) -> None:
        """A body delimited by the end of the connection ends here (httptools has no finish)."""
        headers = self._headers
        if (
            self._headers_done
            and not self._complete
            and not self._too_large
            and "content-length" not in headers
            and "transfer-encoding" not in headers
        ):
            self._answer(keep=False)

    def _fail(self, exc: BaseException) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()
        self.closed = True

    @property
    def answered(self) -> bool:
        """Whether any byte of the answer to the last request arrived."""
        return self._received

    def send(self, head: bytes, body: bytes) -> asyncio.Future[_Answer]:
        """Write a request; the future of its whole answer ``(status, headers, body, keep)``.

        A plain call: the pool awaits the future itself (no coroutine of the connection's in
        between). Resolved once, by the answer or by the connection's failure; a cancelled one
        is left alone (the pool closes the connection).
        """
        assert self.transport is not None
        waiter: asyncio.Future[_Answer]
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self._received = False
        self._complete = False
        self.transport.writelines((head, body) if body else (head,))
        return waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class ConnectionPool:
    """Keep-alive connections of one event loop, per origin (see the module docstring)."""

    def __init__(
        self,
        *,
        max_connections: int = 64,
        connect_timeout: float = 2.0,
        keepalive: float = 4.0,
        max_body: int = 8 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._slots = Slots(max_connections)
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive
        self._max_body = max_body
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._targets: dict[str, Target] = {}
        #: (method, URL, header items) -> the head's start (``_request_start``)
        self._heads: dict[tuple[str, str, tuple[tuple[str, str], ...]], bytes] = {}
        self.closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the connections belong to."""
        return self._loop

    def target(self, url: str) -> Target:
        """``url`` parsed (remembered: connectors call a handful of URLs)."""
        found = self._targets.get(url)
        if found is None:
            found = Target.parse(url)
            if len(self._targets) < 1024:
                self._targets[url] = found
        return found

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> HttpResponse:
        """Send one request and return ``(status, headers, body)``; header names lower-case."""
        target = self.target(url)
        # the request line and headers are the same for every request of an operation: built
        # (and checked) once, then found by the method, the URL and the headers' items
        key = (method, url, tuple(headers.items()))
        try:
            start = self._heads.get(key)
        except TypeError:  # a header value that cannot be hashed: built every time
            start = _request_start(method, target, headers)
        else:
            if start is None:
                start = _request_start(method, target, headers)
                if len(self._heads) < 256:
                    self._heads[key] = start
        head = start + _request_end(method, body)
        payload = body or b""
        slots = self._slots
        waiter = slots.take()  # no await when a connection slot is free
        if waiter is not None:
            await slots.wait(waiter)
        try:
            for attempt in (1, 2):
                connection = self._idle_connection(target)
                reused = connection is not None
                if connection is None:
                    connection = await self._connect(target)
                try:
                    status, answer_headers, data, keep = await connection.send(head, payload)
                except (ConnectionError, OSError):
                    connection.close()
                    if reused and attempt == 1 and not connection.answered:
                        continue  # closed by the server while idle: it never read the request
                    raise
                except BaseException:
                    connection.close()  # timed out, cancelled or malformed: not reusable
                    raise
                self._release(target, connection, keep)
                return HttpResponse(status, answer_headers, data)
        finally:
            slots.release()
        raise AssertionError("unreachable")  # pragma: no cover

    def _idle_connection(self, target: Target) -> _Connection | None:
        """The most recently idle connection to ``target`` still fit for use (the stale ones
        met on the way are closed), or None: a plain call, no coroutine when one is idle."""
        idle = self._idle.get((target.scheme, target.host, target.port))
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.closed or now - connection.idle_since > self._keepalive:
                connection.close()
                continue
            return connection
        return None

    async def _connect(self, target: Target) -> _Connection:
        """A new connection to ``target``."""
        context = None
        if target.scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
        async with asyncio.timeout(self._connect_timeout):
            _, protocol = await self._loop.create_connection(
                lambda: _Connection(self._max_body),
                target.host,
                target.port,
                ssl=context,
                server_hostname=target.host if context is not None else None,
            )
        return protocol

    def _release(self, target: Target, connection: _Connection, keep: bool) -> None:
        if not keep or self.closed or connection.closed:
            connection.close()
            return
        now = connection.idle_since = time.monotonic()
        idle = self._idle.setdefault((target.scheme, target.host, target.port), deque())
        # reuse is last in, first out: the oldest idle ones are at the left; close the stale
        while idle and (idle[0].closed or now - idle[0].idle_since > self._keepalive):
            idle.popleft().close()
        idle.append(connection)

    def close(self) -> None:
        """Close the idle connections; those in use are closed when their request ends."""
        self.closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()


def _request_start(method: str, target: Target, headers: Mapping[str, str]) -> bytes:
    """The request line, ``Host`` and ``headers`` (each line ending in CRLF), as latin-1.

    ``Host``, ``Content-Length``, ``Connection`` and ``Transfer-Encoding`` given in ``headers``
    are left out (this client writes its own); a name or value spanning lines is refused.
    """
    lines = [f"{method} {target.target} HTTP/1.1\r\nHost: {target.authority}\r\n"]
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in ("host", "content-length", "connection", "transfer-encoding"):
            continue
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError("a header cannot span lines")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")


def _request_end(method: str, body: bytes | None) -> bytes:
    """The end of a request's head: ``Content-Length`` when there is a body or ``method`` takes
    one, then the empty line."""
    if body is not None or method in ("POST", "PUT", "PATCH"):
        return b"Content-Length: %d\r\n\r\n" % len(body or b"")
    return b"\r\n"


__all__ = ["BodyTooLarge", "ConnectionPool", "HttpProtocolError", "HttpResponse", "Target"]
