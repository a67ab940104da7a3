"""The HTTP transport behind every connector: one small interface, three implementations.

``Transport`` has two verbs, ``post`` and ``get``, each returning ``HttpResponse(status, headers,
body)`` with lower-case header names, and ``aclose``; ``time_limit`` bounds the whole exchange
(connect to last byte) in seconds. Failures of the library underneath are
translated here: a timeout becomes ``UpstreamTimeout``, a connection or protocol failure
``UpstreamUnavailable``.

``HttptoolsTransport`` is the default: keep-alive connections on asyncio protocols with the
``httptools`` parser (``connectors.http_client``), measured on this machine at about a third of
the client CPU of an ``aiohttp`` session per request, which itself costs about a fifth of a
shared ``httpx.AsyncClient`` (bench/connector_bench.py keeps the comparison). ``AiohttpTransport``
and ``HttpxTransport`` are kept for that comparison and for environments that prefer them. Each
transport holds one pool per upstream, created lazily inside the running event loop and closed
by ``aclose()``. None follows redirects: a signed request is bound to its target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

import aiohttp

from connectors.errors import UpstreamTimeout, UpstreamUnavailable
from connectors.http_client import BodyTooLarge, ConnectionPool, HttpProtocolError

if TYPE_CHECKING:
    import httpx


class HttpResponse(NamedTuple):
    """What came back: the status, the headers (lower-case names) and the body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one HTTP request to an upstream and returns its response."""

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], time_limit: float
    ) -> HttpResponse:
        """POST ``body`` to ``url``; raise ``UpstreamTimeout`` / ``UpstreamUnavailable``."""
        ...

    async def get(self, url: str, headers: Mapping[str, str], time_limit: float) -> HttpResponse:
        """GET ``url``; raise ``UpstreamTimeout`` / ``UpstreamUnavailable``."""
        ...

    async def aclose(self) -> None:
        """Close the pooled connections."""
        ...


class _LoopBoundTransport:
    """What every library-backed ``Transport`` shares: its settings, the two verbs and its errors.

    A subclass supplies ``_send(method, url, body, headers, time_limit)``.
    """

    def __init__(
        self,
        upstream: str,
        *,
        connect_timeout: float,
        max_connections: int,
    ) -> None:
        self.upstream = upstream
        self._connect_timeout = connect_timeout
        self._max_connections = max_connections

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        time_limit: float,
    ) -> HttpResponse:
        raise NotImplementedError

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], time_limit: float
    ) -> HttpResponse:
        return await self._send("POST", url, body, headers, time_limit)

    async def get(self, url: str, headers: Mapping[str, str], time_limit: float) -> HttpResponse:
        return await self._send("GET", url, None, headers, time_limit)

    def _timed_out(self, method: str) -> UpstreamTimeout:
        return UpstreamTimeout(
            f"{self.upstream}: {method} timed out", upstream=self.upstream, fault_code="timeout"
        )

    def _failed(self, method: str, exc: BaseException) -> UpstreamUnavailable:
        return UpstreamUnavailable(
            f"{self.upstream}: {method} failed ({type(exc).__name__})",
            upstream=self.upstream,
            fault_code="connection_error",
        )

    def _too_large(self, status: int | None = None) -> UpstreamUnavailable:
        return UpstreamUnavailable(
            f"{self.upstream}: response body too large",
            upstream=self.upstream,
            fault_code="response_too_large",
            status=status,
        )


class HttptoolsTransport(_LoopBoundTransport):
    """A ``Transport`` over a :class:`~connectors.http_client.ConnectionPool` (the default)."""

    def __init__(
        self,
        upstream: str,
        *,
        connect_timeout: float = 2.0,
        max_connections: int = 64,
        max_body_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        super().__init__(upstream, connect_timeout=connect_timeout, max_connections=max_connections)
        self._max_body_bytes = max_body_bytes
        self._pool: ConnectionPool | None = None

    def _get_pool(self) -> ConnectionPool:
        pool = self._pool
        if pool is None or pool.closed or pool.loop is not asyncio.get_running_loop():
            # a pool belongs to the loop it was made in: a new loop gets a new pool
            pool = self._pool = ConnectionPool(
                max_connections=self._max_connections,
                connect_timeout=self._connect_timeout,
                max_body=self._max_body_bytes,
            )
        return pool

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        time_limit: float,
    ) -> HttpResponse:
        pool = self._get_pool()
        try:
            async with asyncio.timeout(time_limit):
                status, names, data = await pool.request(method, url, headers, body)
        except TimeoutError as exc:
            raise self._timed_out(method) from exc
        except BodyTooLarge as exc:
            raise self._too_large() from exc
        except (OSError, HttpProtocolError) as exc:
            raise self._failed(method, exc) from exc
        return HttpResponse(status, names, data)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and pool.loop is asyncio.get_running_loop():
            pool.close()  # a pool of another (ended) loop dies with it


class AiohttpTransport(_LoopBoundTransport):
    """A ``Transport`` over one ``aiohttp.ClientSession`` (created on first use in the loop)."""

    def __init__(
        self,
        upstream: str,
        *,
        connect_timeout: float = 2.0,
        max_connections: int = 64,
        max_body_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        super().__init__(upstream, connect_timeout=connect_timeout, max_connections=max_connections)
        self._max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        loop = asyncio.get_running_loop()
        if session is None or session.closed or self._loop is not loop:
            # a session belongs to the loop it was made in: a new loop gets a new session
            self._loop = loop
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=30, enable_cleanup_closed=False
            )
            session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
                raise_for_status=False,
            )
            self._session = session
        return session

    def _timeout(self, total: float) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=total, sock_connect=min(self._connect_timeout, total))

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        time_limit: float,
    ) -> HttpResponse:
        session = self._get_session()
        try:
            async with session.request(
                method, url, data=body, headers=dict(headers), timeout=self._timeout(time_limit)
            ) as response:
                data = await response.content.read(self._max_body_bytes + 1)
                if len(data) > self._max_body_bytes:
                    raise self._too_large(response.status)
                names = {k.lower(): v for k, v in response.headers.items()}
                return HttpResponse(response.status, names, data)
        except TimeoutError as exc:
            raise self._timed_out(method) from exc
        except aiohttp.ClientError as exc:
            raise self._failed(method, exc) from exc

    async def aclose(self) -> None:
        session, self._session = self._session, None
        same_loop = self._loop is asyncio.get_running_loop()
        if session is not None and not session.closed and same_loop:
            await session.close()  # a session of another (ended) loop dies with it


class HttpxTransport(_LoopBoundTransport):
    """A ``Transport`` over one shared ``httpx.AsyncClient`` (kept for the measured comparison)."""

    def __init__(
        self, upstream: str, *, connect_timeout: float = 2.0, max_connections: int = 64
    ) -> None:
        super().__init__(upstream, connect_timeout=connect_timeout, max_connections=max_connections)
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_client(self) -> httpx.AsyncClient:
        import httpx

        loop = asyncio.get_running_loop()
        if self._client is None or self._client.is_closed or self._loop is not loop:
            self._loop = loop
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                ),
                timeout=httpx.Timeout(5.0, connect=self._connect_timeout),
            )
        return self._client

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        time_limit: float,
    ) -> HttpResponse:
        import httpx

        client = self._get_client()
        try:
            response = await client.request(
                method,
                url,
                content=body,
                headers=dict(headers),
                timeout=httpx.Timeout(time_limit, connect=min(self._connect_timeout, time_limit)),
            )
        except httpx.TimeoutException as exc:
            raise self._timed_out(method) from exc
        except httpx.TransportError as exc:
            raise self._failed(method, exc) from exc
        names = {k.lower(): v for k, v in response.headers.items()}
        return HttpResponse(response.status_code, names, response.content)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()  # a client of another (ended) loop dies with it


Handler = Callable[[str, str, Mapping[str, str], bytes], Awaitable[HttpResponse]]


class FakeTransport:
    """A ``Transport`` that hands every request to ``handler(method, url, headers, body)``.

    For unit tests: the network is faked without patching. ``requests`` keeps what was sent.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.closed = False

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], time_limit: float
    ) -> HttpResponse:
        self.requests.append(("POST", url, dict(headers), body))
        return await self._handler("POST", url, headers, body)

    async def get(self, url: str, headers: Mapping[str, str], time_limit: float) -> HttpResponse:
        self.requests.append(("GET", url, dict(headers), b""))
        return await self._handler("GET", url, headers, b"")

    async def aclose(self) -> None:
        self.closed = True


TransportKind = str
TRANSPORTS: tuple[TransportKind, ...] = ("httptools", "aiohttp", "httpx")
DEFAULT_TRANSPORT: TransportKind = "httptools"


def make_transport(
    kind: TransportKind, upstream: str, *, connect_timeout: float = 2.0, max_connections: int = 64
) -> Transport:
    """The transport named ``kind`` (``httptools``, the default, ``aiohttp`` or ``httpx``)."""
    if kind == "httptools":
        return HttptoolsTransport(
            upstream, connect_timeout=connect_timeout, max_connections=max_connections
        )
    if kind == "aiohttp":
        return AiohttpTransport(
            upstream, connect_timeout=connect_timeout, max_connections=max_connections
        )
    if kind == "httpx":
        return HttpxTransport(
            upstream, connect_timeout=connect_timeout, max_connections=max_connections
        )
    raise ValueError(f"unknown transport {kind!r}; choose one of {', '.join(TRANSPORTS)}")


__all__ = [
    "DEFAULT_TRANSPORT",
    "TRANSPORTS",
    "AiohttpTransport",
    "FakeTransport",
    "Handler",
    "HttpResponse",
    "HttptoolsTransport",
    "HttpxTransport",
    "Transport",
    "make_transport",
]
