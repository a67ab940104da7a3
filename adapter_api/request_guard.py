"""Requests that have two readings are refused before any route reads them (400 problems).

:class:`RequestGuard` (pure ASGI) sits inside the signature middleware, so its refusals are
signed like every answer, and refuses:

- a repeated ``Host``, ``X-Request-Id``, ``X-User-Id`` or ``X-Issue`` (``repeated_header``).
  What names the official, the case and the correlation id is written to the message log and
  the access log as accountability, and the signature covers it; repeated, a field has two
  readings — the signature covers the values joined (RFC 9421 §2.1) while a reader taking the
  first would log only one of them. ``Host`` gives the ``@authority`` signed.
- an encoded slash (``%2F``) in the path (``encoded_slash``): a path parameter holding one
  would be decoded into a different route's path by one reader and not by another.
- a JSON body with a key repeated in one object (``duplicate_key``): parsers disagree on which
  value wins (the last, the first, or an error), so the value checked may not be the one used.

The body is the one the signature middleware has already read and checked; it is handed on
unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter_api.problems import problem_response
from security.http_signatures import COVERED_WHEN_PRESENT

#: the fields a request may carry at most once
SINGLE_HEADERS: tuple[str, ...] = ("host", *COVERED_WHEN_PRESENT)

_ENCODED_SLASH = (b"%2f", b"%2F")


class DuplicateKey(ValueError):
    """Raised while parsing JSON when an object repeats a key."""


def repeated_header(headers: Iterable[tuple[bytes, bytes]], names: frozenset[bytes]) -> str | None:
    """The first of ``names`` that ``headers`` (lower-case raw pairs) carry more than once."""
    seen: set[bytes] = set()
    for name, _ in headers:
        if name in names:
            if name in seen:
                return name.decode("latin-1")
            seen.add(name)
    return None


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise DuplicateKey("a JSON object repeats a key")
    return result


def has_duplicate_key(body: bytes) -> bool:
    """True when ``body`` is JSON with a key repeated in one object (invalid JSON: False)."""
    if b'"' not in body:
        return False
    try:
        json.loads(body, object_pairs_hook=_unique_pairs)
    except DuplicateKey:
        return True
    except (ValueError, RecursionError):
        return False  # not JSON: the route answers that
    return False


class RequestGuard:
    """Refuses requests with two readings (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, single_headers: Iterable[str] = SINGLE_HEADERS) -> None:
        self.app = app
        self._single = frozenset(name.lower().encode("latin-1") for name in single_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        name = repeated_header(scope.get("headers", ()), self._single)
        if name is not None:
            await _refuse(
                scope,
                receive,
                send,
                "repeated_header",
                f"the {name} header may appear only once",
                field=f"header.{name}",
            )
            return
        raw_path: bytes = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
        if any(marker in raw_path for marker in _ENCODED_SLASH):
            await _refuse(
                scope,
                receive,
                send,
                "encoded_slash",
                "the path may not hold an encoded slash",
                field="path",
            )
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        body, rest = await _read_body(receive)
        if has_duplicate_key(body):
            await _refuse(
                scope,
                receive,
                send,
                "duplicate_key",
                "a JSON object in the body repeats a key",
                field="body",
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await rest()

        await self.app(scope, replay, send)


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts), receive


async def _refuse(
    scope: Scope, receive: Receive, send: Send, code: str, detail: str, *, field: str
) -> None:
    state = scope.get("state") or {}
    request_id = state.get("request_id")
    response = problem_response(
        400,
        code,
        "Bad request",
        detail,
        instance=scope.get("path"),
        request_id=request_id if isinstance(request_id, str) else None,
        extra={"errors": [{"field": field, "message": detail}]},
    )
    await response(scope, receive, send)


__all__ = ["SINGLE_HEADERS", "RequestGuard", "has_duplicate_key", "repeated_header"]
