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
from asyncio import get_running_loop
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import aiohttp

from connectors.errors import ConnectorError, UpstreamTimeout, UpstreamUnavailable
from connectors.http_client import BodyTooLarge, ConnectionPool, HttpProtocolError, HttpResponse

if TYPE_CHECKING:
    import httpx


class Transport(Protocol):
    """Sends one HTTP request to an upstream and returns its response.

    ``time_limit`` is the seconds the exchange may take (``UpstreamTimeout`` after them), or
    ``None`` when the caller already bounds it (an ``asyncio.timeout`` around the call, as
    :class:`~connectors.resilience.Resilience` puts around every attempt): then the transport
    arms no timer of its own, which would only repeat the caller's.
    """

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], time_limit: float | None
    ) -> HttpResponse:
        """POST ``body`` to ``url``; raise ``UpstreamTimeout`` / ``UpstreamUnavailable``."""
        ...

    async def get(
        self, url: str, headers: Mapping[str, str], time_limit: float | None
    ) -> HttpResponse:
        """GET ``url``; raise ``UpstreamTimeout`` / ``UpstreamUnavailable``."""
        ...

    async def aclose(self) -> None:
        """Close the pooled connections."""
        ...


ClientT = TypeVar("ClientT")


def _lower_case_names(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Response headers keyed by lower-case name (a repeated name keeps its last value)."""
    return {name.lower(): value for name, value in headers}


class _LoopBoundTransport(Generic[ClientT]):
    """What every library-backed ``Transport`` shares: settings, verbs, errors, the client's loop.

    The library's client (a pool, a session) belongs to the event loop it was made in: it is
    made on first use, made again after ``aclose()`` or in another loop, and closed only from
    its own loop (one of an ended loop dies with it). A subclass does the I/O in ``_exchange``,
    makes and closes its client (``_open``, ``_is_closed``, ``_close``) and names its library's
    timeouts (``_timeouts``) and connection or protocol failures (``_failures``); a timeout
    becomes ``UpstreamTimeout``, a failure or ``BodyTooLarge`` ``UpstreamUnavailable``.
    """

    _timeouts: tuple[type[BaseException], ...] = (TimeoutError,)
    _failures: tuple[type[BaseException], ...] = ()

    def __init__(
        self,
        upstream: str,
        *,
        connect_timeout: float = 2.0,
        max_connections: int = 64,
        max_body_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.upstream = upstream
        self._connect_timeout = connect_timeout
        self._max_connections = max_connections
        self._max_body_bytes = max_body_bytes
        self._client: ClientT | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- what a subclass supplies
    def _open(self) -> ClientT:
        raise NotImplementedError

    @staticmethod
    def _is_closed(client: ClientT) -> bool:
        raise NotImplementedError

    async def _close(self, client: ClientT) -> None:
        raise NotImplementedError

    def _exchange(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        time_limit: float | None,
    ) -> Awaitable[HttpResponse]:
        raise NotImplementedError

    # -- shared
    def _client_of_this_loop(self) -> ClientT:
        client = self._client
        if client is None or self._is_closed(client) or self._loop is not get_running_loop():
            client = self._client = self._open()
            self._loop = get_running_loop()
        return client

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], time_limit: float | None
    ) -> HttpResponse:
        try:
            return await self._exchange("POST", url, body, headers, time_limit)
        except self._translatable as exc:
            raise self._translated("POST", exc) from exc

    async def get(
        self, url: str, headers: Mapping[str, str], time_limit: float | None
    ) -> HttpResponse:
        try:
            return await self._exchange("GET", url, None, headers, time_limit)
        except self._translatable as exc:
            raise self._translated("GET", exc) from exc

    async def aclose(self) -> None:
        client, self._client = self._client, None
        same_loop = self._loop is get_running_loop()
        if client is not None and same_loop and not self._is_closed(client):
            await self._close(client)  # a client of another (ended) loop dies with it

    # -- errors
    @property
    def _translatable(self) -> tuple[type[BaseException], ...]:
        """What ``_translated`` maps (looked up only when an exchange raised)."""
        return (*self._timeouts, BodyTooLarge, *self._failures)

    def _translated(self, method: str, exc: BaseException) -> ConnectorError:
        """The error-tree exception for a timeout, a too-large body or a failure of ``method``."""
        if isinstance(exc, self._timeouts):  # first: TimeoutError is also an OSError
            return UpstreamTimeout(
                f"{self.upstream}: {method} timed out", upstream=self.upstream, fault_code="timeout"
            )
        if isinstance(exc, BodyTooLarge):
            return self._too_large()
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


class HttptoolsTransport(_LoopBoundTransport[ConnectionPool]):
    """A ``Transport`` over a :class:`~connectors.http_client.ConnectionPool` (the default)."""

    _failures = (OSError, HttpProtocolError)

    def _open(self) -> ConnectionPool:
        return ConnectionPool(
            max_connections=self._max_connections,
            connect_timeout=self._connect_timeout,
            max_body=self._max_body_bytes,
        )

    @staticmethod
    def _is_closed(client: ConnectionPool) -> bool:
        return client.closed

    async def _close(self, client: ConnectionPool) -> None:
        client.close()

    def _exchange(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        time_limit: float | None,
    ) -> Awaitable[HttpResponse]:
        pool = self._client
        if pool is None or pool.closed or self._loop is not get_running_loop():
            pool = self._client_of_this_loop()  # made (again) only then: a call fewer otherwise
        if time_limit is None:  # bounded by the caller: ``post`` awaits the pool's coroutine
            return pool.request(method, url, headers, body)
        return self._within(pool, method, url, body, headers, time_limit)

    @staticmethod
    async def _within(
        pool: ConnectionPool,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        time_limit: float,
    ) -> HttpResponse:
        async with asyncio.timeout(time_limit):
            return await pool.request(method, url, headers, body)


class AiohttpTransport(_LoopBoundTransport[aiohttp.ClientSession]):
    """A ``Transport`` over one ``aiohttp.ClientSession`` (created on first use in the loop)."""

    _failures = (aiohttp.ClientError,)

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, keepalive_timeout=30, enable_cleanup_closed=False
        )
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            raise_for_status=False,
        )

    @staticmethod
    def _is_closed(client: aiohttp.ClientSession) -> bool:
        return client.closed

    async def _close(self, client: aiohttp.ClientSession) -> None:
        await client.close()

    async def _exchange(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        time_limit: float | None,
    ) -> HttpResponse:
        session = self._client_of_this_loop()
        connect = self._connect_timeout if time_limit is None else time_limit
        timeout = aiohttp.ClientTimeout(
            total=time_limit, sock_connect=min(self._connect_timeout, connect)
        )
        async with session.request(
            method, url, data=body, headers=dict(headers), timeout=timeout
        ) as response:
            data = await response.content.read(self._max_body_bytes + 1)
            if len(data) > self._max_body_bytes:
                raise self._too_large(response.status)
            return HttpResponse(response.status, _lower_case_names(response.headers.items()), data)


class HttpxTransport(_LoopBoundTransport["httpx.AsyncClient"]):
    """A ``Transport`` over one shared ``httpx.AsyncClient`` (kept for the measured comparison).

    Unlike the other two it does not bound the size of a response body.
    """

    def __init__(
        self, upstream: str, *, connect_timeout: float = 2.0, max_connections: int = 64
    ) -> None:
        import httpx  # only when chosen: the default transport does not need it

        super().__init__(upstream, connect_timeout=connect_timeout, max_connections=max_connections)
        self._timeouts = (httpx.TimeoutException,)
        self._failures = (httpx.TransportError,)

    def _open(self) -> httpx.AsyncClient:
        import httpx

        return httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=self._max_connections,
                max_keepalive_connections=self._max_connections,
            ),
            timeout=httpx.Timeout(5.0, connect=self._connect_timeout),
        )

    @staticmethod
    def _is_closed(client: httpx.AsyncClient) -> bool:
        return client.is_closed

    async def _close(self, client: httpx.AsyncClient) -> None:
        await client.aclose()

    async def _exchange(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        time_limit: float | None,
    ) -> HttpResponse:
        import httpx

        client = self._client_of_this_loop()
        response = await client.request(
            method,
            url,
            content=body,
            headers=dict(headers),
            timeout=httpx.Timeout(
                time_limit,
                connect=min(
                    self._connect_timeout,
                    self._connect_timeout if time_limit is None else time_limit,
                ),
            ),
        )
        return HttpResponse(
            response.status_code, _lower_case_names(response.headers.items()), response.content
        )


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
        self, url: str, body: bytes, headers: Mapping[str, str], time_limit: float | None
    ) -> HttpResponse:
        self.requests.append(("POST", url, dict(headers), body))
        return await self._handler("POST", url, headers, body)

    async def get(
        self, url: str, headers: Mapping[str, str], time_limit: float | None
    ) -> HttpResponse:
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
