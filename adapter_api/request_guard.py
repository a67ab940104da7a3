"""Requests that have two readings are refused before any route reads them (400 problems).

The adapter's front layer asks these rules (:func:`head_refusal`, :func:`body_refusal`) inside
its signing step, so their refusals are signed like every answer; it reads the headers once
(:func:`read_single_fields`, or the server's protocol did) and asks the head's rule on what it
read (:func:`refusal_of_head`). Refused:

- a repeated ``Host``, ``X-Request-Id``, ``X-User-Id`` or ``X-Issue`` (``repeated_header``).
  What names the official, the case and the correlation id is written to the message log and
  the access log as accountability, and the signature covers it; repeated, a field has two
  readings — the signature covers the values joined (RFC 9421 §2.1) while a reader taking the
  first would log only one of them. ``Host`` gives the ``@authority`` signed.
- an encoded slash (``%2F``) in the path (``encoded_slash``): a path parameter holding one
  would be decoded into a different route's path by one reader and not by another.
- a JSON body with a key repeated in one object (``duplicate_key``): parsers disagree on which
  value wins (the last, the first, or an error), so the value checked may not be the one used.

The body checked is the one the signature check has already read and verified (an unsigned
path's is read here, :func:`read_body`); it is handed on unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope, Send

from adapter_api.problems import problem_response
from security.http_signatures import COVERED_WHEN_PRESENT

#: the fields a request may carry at most once
SINGLE_HEADERS: tuple[str, ...] = ("host", *COVERED_WHEN_PRESENT)
#: the same, as the raw lower-case names of ASGI headers
SINGLE_HEADER_NAMES = frozenset(name.lower().encode("latin-1") for name in SINGLE_HEADERS)

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


#: where the single fields of a request that repeats none of them are left in its scope: the
#: headers read and the first value of each single field among them (:func:`read_single_fields`).
#: Left by the server's protocol (``lienthong.http_protocol``), in its own pass over the
#: headers, or else by the front layer; read there by the front layer (the request id) and the
#: direct route (the purpose headers, ``adapter_api.routes.fast_path``), each only when the
#: headers named are the scope's own
SINGLE_FIELDS_KEY = "lienthong.single_fields"


def read_single_fields(
    headers: Iterable[tuple[bytes, bytes]], single: frozenset[bytes] = SINGLE_HEADER_NAMES
) -> tuple[dict[bytes, bytes], bytes | None]:
    """The first value of each of ``single`` that ``headers`` (lower-case raw pairs) carry, and
    the first of ``single`` they carry more than once (:func:`repeated_header`'s, as raw bytes;
    None when none is), in one pass: what the front layer reads of a request's headers (its id,
    the repeated-header rule, the purpose headers) read together."""
    values: dict[bytes, bytes] = {}
    repeated: bytes | None = None
    for name, value in headers:
        if name in single:
            if name not in values:
                values[name] = value
            elif repeated is None:
                repeated = name
    return values, repeated


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


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: its problem ``code``, the ``detail`` and the ``field`` named."""

    code: str
    detail: str
    field: str

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the 400 problem, with the request id the scope holds."""
        state = scope.get("state") or {}
        request_id = state.get("request_id")
        response = problem_response(
            400,
            self.code,
            "Bad request",
            self.detail,
            instance=scope.get("path"),
            request_id=request_id if isinstance(request_id, str) else None,
            extra={"errors": [{"field": self.field, "message": self.detail}]},
        )
        await response(scope, receive, send)


def head_refusal(scope: Scope, single: frozenset[bytes] = SINGLE_HEADER_NAMES) -> Refusal | None:
    """The refusal of a request whose headers (a repeat of one of ``single``) or path (an
    encoded slash) have two readings; None when they have one."""
    return refusal_of_head(scope, read_single_fields(scope.get("headers", ()), single)[1])


def refusal_of_head(scope: Scope, repeated: bytes | None) -> Refusal | None:
    """:func:`head_refusal` once the headers have been read (:func:`read_single_fields`):
    ``repeated`` the first single field repeated (None: none), for a caller that read them
    already (the front layer)."""
    if repeated is not None:
        name = repeated.decode("latin-1")
        detail = f"the {name} header may appear only once"
        return Refusal("repeated_header", detail, f"header.{name}")
    raw_path: bytes = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
    if b"%2" in raw_path and any(marker in raw_path for marker in _ENCODED_SLASH):
        return Refusal("encoded_slash", "the path may not hold an encoded slash", "path")
    return None


#: the methods whose request body the rules read (:func:`reads_body`)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def reads_body(scope: Scope) -> bool:
    """True when the request's body is checked (a POST, PUT or PATCH)."""
    return scope.get("method") in BODY_METHODS


def body_refusal(body: bytes) -> Refusal | None:
    """The refusal of a JSON ``body`` repeating a key in one object; None otherwise."""
    if has_duplicate_key(body):
        return Refusal("duplicate_key", "a JSON object in the body repeats a key", "body")
    return None


async def read_body(receive: Receive) -> bytes:
    """The whole body ``receive`` hands on (up to a message that is not a body part)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


__all__ = [
    "BODY_METHODS",
    "SINGLE_FIELDS_KEY",
    "SINGLE_HEADERS",
    "SINGLE_HEADER_NAMES",
    "Refusal",
    "body_refusal",
    "has_duplicate_key",
    "head_refusal",
    "read_body",
    "read_single_fields",
    "reads_body",
    "refusal_of_head",
    "repeated_header",
]
