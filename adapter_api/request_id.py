"""Correlation ids: every request gets one, every response and log line carries it.

:func:`adopt_request_id` takes the caller's ``X-Request-Id`` when it is a sane token (or makes a
UUID) and puts it in ``scope["state"]["request_id"]`` and in a context variable for the logs;
:func:`echo_request_id` puts it on the response. The adapter's front layer calls both (the
first with the headers read already: :func:`adopt_raw_request_id`);
:class:`RequestIdMiddleware` is the same as a pure ASGI middleware of its own. The request id is
correlation only: the upstream message id (the X-Road ``id``) is a fresh UUID the adapter makes for
each exchange (:func:`new_message_id`), so two requests that carry the same id never share a
message id.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
#: the header's raw name, as ASGI headers hold it
REQUEST_ID_HEADER = HEADER.encode("ascii")
_VALID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
#: :data:`_VALID` on the raw header value: the same verdict as on its latin-1 text (each byte
#: is the character of the same number, and every character the pattern takes is ASCII)
_VALID_RAW = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "lienthong_request_id", default=None
)


#: the RFC 4122 variant (``10`` in the two high bits) set in a hex digit: 8, 9, a or b
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def uuid4_text(raw: bytes) -> str:
    """``str(uuid.UUID(bytes=raw, version=4))`` of 16 bytes, without the ``UUID`` object: the
    version (4) and variant bits set, read on the hex digits."""
    if len(raw) != 16:
        raise ValueError("a UUID is 16 bytes")
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:]}"


def fresh_uuid4() -> str:
    """``str(uuid.uuid4())`` without the ``UUID`` object (a third of the cost; two per lookup)."""
    return uuid4_text(os.urandom(16))


#: a fresh upstream message id (UUID4): made here, never taken from the caller
#: (:func:`fresh_uuid4` itself: one call per message id, not two)
new_message_id = fresh_uuid4


def accept_request_id(value: str | None) -> str:
    """``value`` when it is a sane token (1–128 of ``A-Za-z0-9._:-``), else a fresh UUID."""
    if value and _VALID.fullmatch(value):
        return value
    return fresh_uuid4()


def current_request_id() -> str | None:
    """The request id of the request being handled in this context, if any."""
    return request_id_var.get()


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` to every log record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


def adopt_request_id(scope: Scope) -> tuple[bytes, contextvars.Token[str | None]]:
    """Take the request's id (its first ``X-Request-Id`` when sane, else a fresh UUID): put it in
    ``scope["state"]["request_id"]`` and the logs' context. Returns the id as a header value and
    the token that takes it out of the context again (``request_id_var.reset``)."""
    incoming: bytes | None = None
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            incoming = value
            break
    return adopt_raw_request_id(scope, incoming)


def adopt_raw_request_id(
    scope: Scope, incoming: bytes | None
) -> tuple[bytes, contextvars.Token[str | None]]:
    """:func:`adopt_request_id` once the request's first ``X-Request-Id`` value has been read:
    ``incoming`` (None when it carries none), for a caller that read its headers already (the
    front layer). The same id, state, context and header value: a sane ``incoming`` is kept
    (:data:`_VALID_RAW`, the verdict of :func:`accept_request_id` on its latin-1 text), any
    other replaced by a fresh UUID."""
    if incoming is not None and _VALID_RAW.fullmatch(incoming):
        request_id = incoming.decode("ascii")
    else:
        request_id = fresh_uuid4()
        incoming = request_id.encode("ascii")
    state: dict[str, Any] = scope.setdefault("state", {})
    state["request_id"] = request_id
    return incoming, request_id_var.set(request_id)


def echo_request_id(start: Message, raw: bytes) -> None:
    """Make ``raw`` the one ``X-Request-Id`` of the response ``start`` (last of its headers)."""
    headers = start.get("headers", [])
    for name, _ in headers:
        if name == REQUEST_ID_HEADER:  # the app's own: dropped (rarely there)
            headers = [(k, v) for k, v in headers if k != REQUEST_ID_HEADER]
            break
    start["headers"] = [*headers, (REQUEST_ID_HEADER, raw)]


class RequestIdMiddleware:
    """Accepts or makes the request id, stores it in the scope and echoes it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw, token = adopt_request_id(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                echo_request_id(message, raw)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


__all__ = [
    "HEADER",
    "REQUEST_ID_HEADER",
    "RequestIdLogFilter",
    "RequestIdMiddleware",
    "accept_request_id",
    "adopt_raw_request_id",
    "adopt_request_id",
    "current_request_id",
    "echo_request_id",
    "fresh_uuid4",
    "new_message_id",
    "request_id_var",
    "uuid4_text",
]
