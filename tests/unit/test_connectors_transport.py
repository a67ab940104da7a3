"""The part every library-backed transport shares: error translation and one client per loop.

A minimal subclass stands in for a library; the real transports are exercised over loopback in
``tests/integration/test_connectors_transport.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from connectors.errors import UpstreamTimeout, UpstreamUnavailable
from connectors.http_client import BodyTooLarge
from connectors.transport import HttpResponse, _LoopBoundTransport


class LibraryError(Exception):
    """What the stand-in library raises for a lost connection."""


class FakeClient:
    """A library client: remembers whether it was closed."""

    def __init__(self) -> None:
        self.closed = False


class StandInTransport(_LoopBoundTransport[FakeClient]):
    """Raises ``self.raising`` from its exchange, else answers 200 with the client it used."""

    _failures = (OSError, LibraryError)

    def __init__(self) -> None:
        super().__init__("stand-in")
        self.raising: BaseException | None = None
        self.opened: list[FakeClient] = []

    def _open(self) -> FakeClient:
        self.opened.append(FakeClient())
        return self.opened[-1]

    @staticmethod
    def _is_closed(client: FakeClient) -> bool:
        return client.closed

    async def _close(self, client: FakeClient) -> None:
        client.closed = True

    async def _exchange(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        time_limit: float | None,
    ) -> HttpResponse:
        client = self._client_of_this_loop()
        if self.raising is not None:
            raise self.raising
        return HttpResponse(200, {"x-client": str(self.opened.index(client))}, body or b"")


async def test_a_timeout_is_upstream_timeout_though_it_is_also_an_oserror() -> None:
    """TimeoutError subclasses OSError (a named failure) yet becomes UpstreamTimeout."""
    transport = StandInTransport()
    transport.raising = TimeoutError()
    with pytest.raises(UpstreamTimeout) as info:
        await transport.post("http://127.0.0.1/", b"x", {}, 1.0)
    assert info.value.fault_code == "timeout"
    assert info.value.upstream == "stand-in"
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_named_failures_and_too_large_bodies_are_upstream_unavailable() -> None:
    """A library failure is connection_error naming its type; BodyTooLarge response_too_large."""
    transport = StandInTransport()
    transport.raising = LibraryError("secret detail")
    with pytest.raises(UpstreamUnavailable) as failed:
        await transport.get("http://127.0.0.1/", {}, 1.0)
    assert failed.value.fault_code == "connection_error"
    assert str(failed.value) == "stand-in: GET failed (LibraryError)"
    transport.raising = BodyTooLarge()
    with pytest.raises(UpstreamUnavailable) as large:
        await transport.post("http://127.0.0.1/", b"x", {}, 1.0)
    assert large.value.fault_code == "response_too_large"
    assert large.value.status is None


async def test_errors_the_transport_does_not_name_pass_through() -> None:
    """An exception that is neither a timeout nor a named failure is not translated."""
    transport = StandInTransport()
    transport.raising = ValueError("a bug")
    with pytest.raises(ValueError, match="a bug"):
        await transport.post("http://127.0.0.1/", b"x", {}, 1.0)


async def test_one_client_is_reused_and_replaced_once_closed() -> None:
    """Requests share one client; after aclose() or a close elsewhere a new one is made."""
    transport = StandInTransport()
    for _ in range(3):
        await transport.post("http://127.0.0.1/", b"x", {}, 1.0)
    assert len(transport.opened) == 1
    await transport.aclose()
    assert transport.opened[0].closed
    answer = await transport.get("http://127.0.0.1/", {}, 1.0)
    assert answer.headers["x-client"] == "1"
    transport.opened[1].closed = True
    answer = await transport.get("http://127.0.0.1/", {}, 1.0)
    assert answer.headers["x-client"] == "2"


def test_a_new_loop_gets_a_new_client_and_leaves_the_old_one_alone() -> None:
    """A client belongs to its loop: another loop makes its own and does not close the old."""
    transport = StandInTransport()

    async def once() -> str:
        return (await transport.get("http://127.0.0.1/", {}, 1.0)).headers["x-client"]

    assert asyncio.run(once()) == "0"
    assert asyncio.run(once()) == "1"
    asyncio.run(transport.aclose())
    assert not transport.opened[1].closed  # made in the second loop, not the closing one
    assert not transport.opened[0].closed
