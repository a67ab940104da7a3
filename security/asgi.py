"""Verify signed requests, sign responses (RFC 9421), in pure ASGI.

:class:`SignatureGate` holds the steps and :class:`SignedResponse` the signing ``send``, for an
ASGI layer that takes other steps too (the adapter's front layer);
:class:`HttpSignatureMiddleware` is the same as a middleware of its own.

For every HTTP request outside ``exempt_paths`` it first admits the request on its headers
alone — a signature naming a known key, a ``Content-Length`` within the route's limit, a place
among the bodies in flight (:mod:`security.admission`) — and refuses it otherwise before a byte
of the body is read (the refusal asks the connection to close, so the rest is never read). Then
it buffers the body (cut off at the route's limit), verifies the signature
with an :class:`HttpVerifier`, stores the signer's keyid in ``scope["state"]["client_id"]`` (and
the :class:`VerifiedRequest` in ``scope["state"]["signature"]``), calls the app with the buffered
body, buffers the app's response and signs it bound to the request. A refused request never
reaches the app: ``on_error(exc)`` turns the ``SecurityError`` into ``(status, headers, body)``,
and that answer is signed too.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http import HTTPStatus
from typing import Any

from security.admission import BodiesInFlight
from security.errors import Overloaded, RequestTooLarge, SecurityError
from security.http_signatures import HttpSigner, HttpVerifier, RequestView
from security.http_signatures.message import new_header_fields

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorRenderer = Callable[[SecurityError], tuple[int, list[tuple[str, str]], bytes]]
RawHeaders = list[tuple[bytes, bytes]]

DEFAULT_MAX_BODY = 10 * 1024 * 1024


def refusal_status(exc: SecurityError) -> int:
    """The HTTP status of a refusal: 413 too large, 429/503 too many bodies, else 401."""
    if isinstance(exc, RequestTooLarge):
        return 413
    if isinstance(exc, Overloaded):
        return 429 if exc.reason == "client_busy" else 503
    return 401


def problem_response(exc: SecurityError) -> tuple[int, list[tuple[str, str]], bytes]:
    """The default refusal as problem+json, with the status of :func:`refusal_status`."""
    status = refusal_status(exc)
    body = json.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "code": exc.reason,
            "detail": exc.message,
        }
    ).encode("utf-8")
    headers = [("content-type", "application/problem+json")]
    if isinstance(exc, Overloaded):
        headers.append(("retry-after", "1"))
    return status, headers, body


def _nothing() -> None:
    return None


def _encoded(headers: Iterable[tuple[str, str]]) -> RawHeaders:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


#: the app's header fields an answer is signed without: its own digest (the signer's replaces it)
_DROPPED = frozenset({b"content-digest"})
#: the raw lower-case names of the fields a signer adds (a handful: its names do not change)
_FIELD_NAMES: dict[str, bytes] = {}
_FIELD_NAMES_KEPT = 32


def _field_name(field: str) -> bytes:
    """``field`` as a raw lower-case header name, kept in a small memo (:data:`_FIELD_NAMES`,
    which the signing loop reads first: a call only for a name not kept yet)."""
    name = field.lower().encode("latin-1")
    if len(_FIELD_NAMES) < _FIELD_NAMES_KEPT:
        _FIELD_NAMES[field] = name
    return name


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands on ``body`` (already read, whole) first, then ``receive``'s."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


#: what runs once a request is verified: the app, given the request and its body
VerifiedCall = Callable[[RequestView, bytes], Awaitable[None]]
#: a request admitted and verified (:meth:`SignatureGate.admitted`): its view, its body, and
#: what frees its place among the bodies in flight once it is served
Admitted = tuple[RequestView, bytes, Callable[[], None]]


class SignatureGate:
    """The signature checks of a request and the signing of its answer, as parts an ASGI layer
    calls (see the module docstring): :class:`HttpSignatureMiddleware` on its own, the adapter's
    front layer among its other steps."""

    def __init__(
        self,
        *,
        verifier: HttpVerifier,
        signer: HttpSigner,
        exempt_paths: Iterable[str] = (),
        on_error: ErrorRenderer | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        body_limit: Callable[[str, str], int] | None = None,
        in_flight: BodiesInFlight | None = None,
    ) -> None:
        self._verifier = verifier
        self._signer = signer
        exempt = list(exempt_paths)
        self._exact = frozenset(path for path in exempt if not path.endswith("*"))
        self._prefixes = tuple(path[:-1] for path in exempt if path.endswith("*"))
        self._on_error = on_error or problem_response
        self._body_limit = body_limit or (lambda _method, _path: max_body)
        self._in_flight = in_flight

    def exempt(self, path: str) -> bool:
        """True when ``path`` is served unsigned (an exempt path or under an exempt prefix)."""
        # str.startswith of no prefixes, ``()``, is False
        return path in self._exact or path.startswith(self._prefixes)

    async def verified(
        self, scope: Scope, receive: Receive, send: Send, call: VerifiedCall
    ) -> None:
        """Admit and verify the request of ``scope``, then ``await call(request, body)``.

        A refused request is answered on ``send`` (signed) and ``call`` is not made. The place
        among the bodies in flight is held until ``call`` returns.
        """
        admitted = await self.admitted(scope, receive, send)
        if admitted is None:
            return
        request, body, release = admitted
        try:
            await call(request, body)
        finally:
            release()

    async def admitted(self, scope: Scope, receive: Receive, send: Send) -> Admitted | None:
        """:meth:`verified`'s steps for a layer that calls on by itself: the verified request,
        its body and ``release``, which the caller must call once the request is served (it
        frees the place among the bodies in flight); None when the request was refused
        (answered on ``send``, signed; nothing to release).

        The steps run inline (one frame per request): the URL, the declared length, the
        admission on the headers alone and a body that came whole in one message are read
        here; a body in several messages, or refused as too large, by :meth:`_read_body`.
        """
        raw_headers: RawHeaders = scope.get("headers", [])
        if type(raw_headers) is not list:  # ASGI's is a list, read as it is
            raw_headers = list(raw_headers)
        # read once, for the request and its response (what header_fields makes of a list)
        headers = new_header_fields(raw_headers)
        # the URL: the first Host field as received (else the server's address), the raw path
        for name, value in raw_headers:
            if name == b"host":
                authority = value.decode("latin-1")
                break
        else:
            server = scope.get("server") or ("localhost", None)
            authority = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope.get("path", "/")
        query = scope.get("query_string", b"").decode("latin-1")
        scheme = scope.get("scheme", "http")
        url = f"{scheme}://{authority}{path}?{query}" if query else f"{scheme}://{authority}{path}"
        method = scope["method"]
        request = RequestView(method, url, headers)
        limit = self._body_limit(method, scope.get("path", ""))
        # the declared length, and whether a body follows (a length other than 0, or chunks)
        length: int | None = None
        has_body = "transfer-encoding" in headers
        declared = headers.get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:  # the HTTP parser refuses these; if one gets here, the cap holds
                pass
            else:
                has_body = has_body or length != 0
        # refused on the headers alone, or a place among the bodies in flight taken
        try:
            keyid = self._verifier.claimed_signer(headers)
            if length is not None and length > limit:
                raise RequestTooLarge(f"the request body is larger than {limit} bytes")
            in_flight = self._in_flight
            release = _nothing if not has_body or in_flight is None else in_flight.acquire(keyid)
        except SecurityError as exc:
            await self._refuse(send, request, exc, close=has_body)
            return None
        try:
            message = await receive()
            body = b""
            if message["type"] != "http.disconnect":
                body = message.get("body", b"")
                # the whole body in this one message, within the limit: what the loop would join
                if type(body) is not bytes or len(body) > limit or message.get("more_body", False):
                    body = await self._read_body(message, receive, limit)
            verified = self._verifier.verify_view(request, body)
        except SecurityError as exc:
            try:
                await self._refuse(send, request, exc, close=isinstance(exc, RequestTooLarge))
            finally:
                release()
            return None
        except BaseException:
            release()
            raise
        state = scope.setdefault("state", {})
        state["client_id"] = verified.keyid
        state["signature"] = verified
        return request, body, release

    async def _refuse(
        self, send: Send, request: RequestView, exc: SecurityError, *, close: bool
    ) -> None:
        status, error_headers, error_body = self._on_error(exc)
        headers = _encoded(error_headers)
        if close:  # the body is left unread: the connection cannot serve another request
            headers.append((b"connection", b"close"))
        await self.send_signed(send, request, status, headers, error_body)

    async def _read_body(self, message: Message, receive: Receive, limit: int) -> bytes:
        """The request's body from ``message``, the first of its messages, on: the chunks up
        to the last (or a disconnect) joined; refused once they are more than ``limit``."""
        parts: list[bytes] = []
        size = 0
        while message["type"] != "http.disconnect":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestTooLarge(f"the request body is larger than {limit} bytes")
            parts.append(chunk)
            if not message.get("more_body", False):
                break
            message = await receive()
        return b"".join(parts)

    async def send_signed(
        self,
        send: Send,
        request: RequestView,
        status: int,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        """Send the whole answer on ``send``, signed bound to ``request`` (the fields of
        :meth:`signed_headers`)."""
        out = self.signed_headers(request, status, headers, body)
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def signed_headers(
        self,
        request: RequestView,
        status: int,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
        dropped: frozenset[bytes] = _DROPPED,
    ) -> RawHeaders:
        """The header fields of the answer ``status``, ``headers``, ``body`` signed bound to
        ``request``, as a new list: names lower case, the app's own ``Content-Digest``
        replaced (and any other of ``dropped`` left out: one the caller adds after), a
        ``Content-Length`` added if missing."""
        out: RawHeaders = []
        append = out.append
        sized = False
        for name, value in headers:
            name = name.lower()
            if name not in dropped:
                append((name, value))
                sized = sized or name == b"content-length"
        signed = self._signer.sign_response(status, out, body, request=request)
        if sized:  # the usual answer: the signer's fields after the app's, as they are
            for field, text in signed.items():
                append((_FIELD_NAMES.get(field) or _field_name(field), text.encode("latin-1")))
            return out
        for field, text in signed.items():
            name = _FIELD_NAMES.get(field) or _field_name(field)
            append((name, text.encode("latin-1")))
            sized = sized or name == b"content-length"
        if not sized:
            append((b"content-length", str(len(body)).encode("ascii")))
        return out


class SignedResponse:
    """A ``send`` for the app: holds its response until the last body chunk, then answers it
    whole (:meth:`send_whole`: signed, on ``send``); messages other than a response's, and a
    body before any start, pass."""

    __slots__ = ("_chunks", "_gate", "_request", "_send", "start")

    def __init__(self, gate: SignatureGate, request: RequestView, send: Send) -> None:
        self._gate = gate
        self._request = request
        self._send = send
        self._chunks: list[bytes] = []
        #: the app's ``http.response.start``, once sent
        self.start: Message | None = None

    async def __call__(self, message: Message) -> None:
        start = self.start
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await self._send(message)
            return
        chunks = self._chunks
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        await self.send_whole(start["status"], start.get("headers", []), body)

    async def send_whole(self, status: int, headers: RawHeaders, body: bytes) -> None:
        """Answer ``status``, ``headers`` and ``body`` signed, as a start and one last body
        message would be answered."""
        await self._gate.send_signed(self._send, self._request, status, headers, body)


class HttpSignatureMiddleware:
    """Verifies every request's signature and signs every response (see module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: HttpVerifier,
        signer: HttpSigner,
        exempt_paths: Iterable[str] = (),
        on_error: ErrorRenderer | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        body_limit: Callable[[str, str], int] | None = None,
        in_flight: BodiesInFlight | None = None,
    ) -> None:
        self.app = app
        self.gate = SignatureGate(
            verifier=verifier,
            signer=signer,
            exempt_paths=exempt_paths,
            on_error=on_error,
            max_body=max_body,
            body_limit=body_limit,
            in_flight=in_flight,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.gate.exempt(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def call(request: RequestView, body: bytes) -> None:
            signed = SignedResponse(self.gate, request, send)
            await self.app(scope, replaying(body, receive), signed)

        await self.gate.verified(scope, receive, send, call)


__all__ = [
    "Admitted",
    "HttpSignatureMiddleware",
    "SignatureGate",
    "SignedResponse",
    "problem_response",
    "refusal_status",
    "replaying",
]
