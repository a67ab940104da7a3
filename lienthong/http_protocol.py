"""The HTTP/1.1 connection as ``serve`` runs it: uvicorn's httptools protocol with deadlines.

uvicorn closes idle keep-alive connections but puts no deadline on a request in progress: a
client may send half its headers, or a body one byte at a time, and hold the connection (and
what the server buffered for it) for as long as it likes. :func:`guarded_protocol` makes a
protocol class (``uvicorn.Config(http=...)``) that adds, per connection:

* a **header deadline** (``header_timeout_seconds``): from the connection's first moment, and
  from the first byte of each further request, the request line and headers must be complete in
  time, else ``408 header_timeout`` and the connection is closed;
* a **body deadline** (``body_timeout_seconds``): once the headers are in, the whole body must be
  in within it, else ``408 body_timeout`` (when no answer has begun) and the connection closed;
* **head size limits**: a request line over ``max_request_line_bytes`` gets ``414
  request_line_too_long``, a header block over ``max_header_bytes`` ``431 headers_too_large``,
  and a request the parser cannot read ``400 malformed_request`` — each a problem document
  (uvicorn would answer ``text/plain``), each closing the connection.

These answers are written before any application code runs, so they are not signed: there is no
request yet to bind a signature to.

The pass over a request's fields that counts the head's size also reads the adapter's single
fields (``X-Request-Id``, the purpose headers, ``Host``) and, when none repeats, leaves them in
the scope (``adapter_api.request_guard.SINGLE_FIELDS_KEY``), so that the front layer does not
read the headers again (:func:`read_head`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from adapter_api.problems import PROBLEM_MEDIA_TYPE, problem_body
from adapter_api.request_guard import SINGLE_FIELDS_KEY, SINGLE_HEADER_NAMES
from lienthong.settings import Settings


@dataclass(frozen=True)
class ConnectionLimits:
    """Deadlines and head sizes of one connection (see the module docstring)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_request_line: int = 8192
    max_header_bytes: int = 32768

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        """The limits the settings name."""
        return cls(
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            max_request_line=settings.max_request_line_bytes,
            max_header_bytes=settings.max_header_bytes,
        )


#: the fields that may announce a body
_BODY_FIELDS = frozenset({b"transfer-encoding", b"content-length"})
#: the fields :func:`read_head` looks at: those, and the adapter's single fields
_NOTED = _BODY_FIELDS | SINGLE_HEADER_NAMES


def read_head(
    url: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bool, dict[bytes, bytes], bytes | None]:
    """What the connection and the adapter read of a request's head, in one pass over its
    fields: its size as the limits count it (its ``url`` and each field as
    ``name: value\r\n``); whether it has a body (a ``Transfer-Encoding`` field, or a
    ``Content-Length`` other than ``0``); and the single fields, as
    :func:`adapter_api.request_guard.read_single_fields` reads them (the first value of each,
    the first repeated)."""
    size = len(url) + 4 * len(headers)
    has_body = False
    single: dict[bytes, bytes] = {}
    repeated: bytes | None = None
    for name, value in headers:
        size += len(name) + len(value)
        if name in _NOTED:
            if name in SINGLE_HEADER_NAMES:
                if name not in single:
                    single[name] = value
                elif repeated is None:
                    repeated = name
            elif name == b"transfer-encoding" or value != b"0":
                has_body = True
    return size, has_body, single, repeated


class _Refused(Exception):
    """Stops the parser inside a callback; the refusal to write is on the protocol."""


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the deadlines and limits of :class:`ConnectionLimits`."""

    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head = True
        self._head_bytes = 0
        self._refusal: tuple[int, str, str] | None = None

    # -- deadlines

    def _arm(self, seconds: float, code: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, code)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, code: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if code == "header_timeout" and self.cycle is not None and not self.cycle.response_complete:
            # a pipelined request's head, while the adapter still answers the one before
            self._arm(self.limits.header_timeout, code)
            return
        cycle = self.cycle if not self._in_head else None
        if cycle is None or not cycle.response_started:
            what = "headers" if code == "header_timeout" else "body"
            self._write_problem(408, code, f"the request's {what} did not arrive in time")
        else:
            self._close()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout, "header_timeout")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            status, code, detail = self._refusal or (
                400,
                "malformed_request",
                "the request is not well-formed HTTP/1.1",
            )
            self._write_problem(status, code, detail)
            return
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse_head(write=True)

    # -- parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0  # counted again from the next read (a read holds at most 256 KiB)
        self._refusal = None
        if self._deadline is None:  # the first request's deadline runs from the connection
            # _arm's step, without its _disarm (there is no deadline to cancel)
            self._deadline = self.loop.call_later(
                self.limits.header_timeout, self._expired, "header_timeout"
            )

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line:
            self._refuse_head(write=False)

    def on_headers_complete(self) -> None:
        headers = self.headers
        size, has_body, single, repeated = read_head(self.url, headers)
        limits = self.limits
        if len(self.url) > limits.max_request_line or size > limits.max_header_bytes:
            self._refuse_head(write=False)
        self._in_head = False
        self._disarm()
        if repeated is None:  # the front layer reads the single fields here, not again
            self.scope[SINGLE_FIELDS_KEY] = (headers, single)  # type: ignore[literal-required]
        super().on_headers_complete()
        if has_body:
            self._arm(limits.body_timeout, "body_timeout")

    def on_message_complete(self) -> None:
        if self._deadline is not None:  # a body's deadline (a GET's was disarmed with its head)
            self._disarm()
        super().on_message_complete()

    # -- refusals

    def _refuse_head(self, *, write: bool) -> None:
        if len(self.url) > self.limits.max_request_line:
            refusal = (414, "request_line_too_long", "the request line is too long")
        else:
            refusal = (431, "headers_too_large", "the request's header block is too large")
        if write:
            self._write_problem(*refusal)
            return
        self._refusal = refusal
        raise _Refused(refusal[1])

    def _write_problem(self, status: int, code: str, detail: str) -> None:
        """Answer with a problem document and close the connection."""
        body = problem_body(status, code, HTTPStatus(status).phrase, detail)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(
            b"content-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (PROBLEM_MEDIA_TYPE.encode("ascii"), len(body))
        )
        self.transport.write(b"".join(head) + body)
        self._close()

    def _close(self) -> None:
        self._disarm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the application's answer, if any, goes nowhere
            cycle.message_event.set()
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A :class:`GuardedHttpProtocol` class with ``limits``, for ``uvicorn.Config(http=...)``."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


__all__ = ["ConnectionLimits", "GuardedHttpProtocol", "guarded_protocol", "read_head"]
