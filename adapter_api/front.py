"""The adapter's front layer: every step between the server and FastAPI, in one ASGI callable.

Six middleware layers would each wrap ``send`` and add a call to every request and every
response message; this layer takes the same steps, in the same order, with one ``send`` the app
sees (:class:`_SignedAppSend`, which also holds and signs the answer; :class:`_AppSend` on an
exempt path) and no callback of its own between the signature check and the app
(:meth:`SignatureGate.admitted`). Outermost first:

1. the request id — accepted or made, in the scope and the logs' context, echoed as the last
   ``X-Request-Id`` of every answer (:mod:`adapter_api.request_id`); it is read in the one pass
   over the headers that also finds a repeated single field for step 5 and the purpose headers
   the direct route reads (:func:`adapter_api.request_guard.read_single_fields`);
2. the request metrics — by route template, method and status, with the time to answer
   (:meth:`Metrics.observe_request`); a request that failed before its answer counts as 500;
3. the signature check — admission on the headers alone, then the verified body; a refusal
   never reaches the steps below; every answer from below is signed whole (exempt paths are
   served unsigned, streamed) (:class:`security.asgi.SignatureGate`);
4. the RateLimit fields a counted call left in the scope, on its answer
   (:func:`adapter_api.rate_limits.add_rate_limit_fields`);
5. the two-readings rules — a repeated single header, an encoded slash, a JSON body repeating
   a key: 400 problems (:mod:`adapter_api.request_guard`);
6. the error boundary — an exception no handler took becomes a problem (500 ``internal_error``
   unless mapped), signed like any answer; once the app has started its answer it is raised on
   (:func:`adapter_api.handlers.unhandled_error`).

An exception that escapes these steps is answered as Starlette's ``ServerErrorMiddleware``
answers it — a plain 500 unless an answer already went out — and raised on to the server: the
layer answers the same whether that middleware is around it or not (``adapter_api.served``).
"""

from __future__ import annotations

from time import perf_counter

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter_api.handlers import api_error_response, unhandled_error
from adapter_api.metrics import Metrics
from adapter_api.rate_limits import add_rate_limit_fields, with_rate_limit_fields
from adapter_api.request_guard import (
    SINGLE_FIELDS_KEY,
    body_refusal,
    read_body,
    read_single_fields,
    reads_body,
    refusal_of_head,
)
from adapter_api.request_id import (
    REQUEST_ID_HEADER,
    adopt_raw_request_id,
    echo_request_id,
    request_id_var,
)
from security.asgi import SignatureGate, SignedResponse, replaying
from security.http_signatures import RequestView

RawHeaders = list[tuple[bytes, bytes]]
#: the app's header fields a signed answer leaves out: its own digest (the signer's replaces
#: it) and request id (the request's is echoed, after the signed fields, as ``_Out`` echoes it)
_NOT_SIGNED = frozenset({b"content-digest", REQUEST_ID_HEADER})


def _server_error() -> PlainTextResponse:
    """The answer to an exception that escapes the front layer's steps, as Starlette's
    ``ServerErrorMiddleware`` (not debugging, no handler of its own) gives it."""
    return PlainTextResponse("Internal Server Error", status_code=500)


class _Out:
    """The answer's way to the server: its status noted (for the metrics), the request id
    echoed. Holds no reference back to what sends through it, so a request leaves no cycle
    for the garbage collector."""

    __slots__ = ("request_id", "send", "started", "status")

    def __init__(self, send: Send, request_id: bytes) -> None:
        #: the server's ``send``
        self.send = send
        #: the request id, as the header value echoed
        self.request_id = request_id
        #: the status sent to the server (500 until one is)
        self.status = 500
        #: whether an answer has started on the server's ``send``
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            echo_request_id(message, self.request_id)
        await self.send(message)


class _AppSend:
    """The one ``send`` the app sees on an exempt path: RateLimit fields on the start, then
    straight out."""

    __slots__ = ("_out", "_scope", "app_started")

    def __init__(self, scope: Scope, out: _Out) -> None:
        self._scope = scope
        self._out = out
        #: whether the app has started its answer (the error boundary then raises on)
        self.app_started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.app_started = True
            add_rate_limit_fields(message, self._scope)
        await self._out(message)


class _SignedAppSend(SignedResponse):
    """The one ``send`` the app sees on a signed path: the answer held and signed bound to the
    request (:class:`~security.asgi.SignedResponse`), the RateLimit fields added and the
    request id echoed, sent to the server in two messages; :meth:`send_whole` takes a whole
    answer in one call (:func:`adapter_api.routes.context.send_json`)."""

    __slots__ = ("_out", "_scope")

    def __init__(self, scope: Scope, gate: SignatureGate, request: RequestView, out: _Out) -> None:
        super().__init__(gate, request, out)
        self._scope = scope
        self._out = out

    @property
    def app_started(self) -> bool:
        """Whether the app has started its answer (the error boundary then raises on)."""
        return self.start is not None

    async def send_whole(self, status: int, headers: RawHeaders, body: bytes) -> None:
        """Answer ``status``, ``headers`` and ``body`` as a start and one last body message
        would be answered: the answer ``_Out`` would send, made here in one pass."""
        self.start = {"type": "http.response.start", "status": status, "headers": headers}
        headers = with_rate_limit_fields(headers, self._scope)
        out = self._out
        # the app's own X-Request-Id (not signed) dropped, the request's echoed last
        signed = self._gate.signed_headers(self._request, status, headers, body, _NOT_SIGNED)
        signed.append((REQUEST_ID_HEADER, out.request_id))
        out.status = status
        out.started = True
        send = out.send
        await send({"type": "http.response.start", "status": status, "headers": signed})
        await send({"type": "http.response.body", "body": body, "more_body": False})


class Front:
    """The adapter's one ASGI layer in front of FastAPI (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, gate: SignatureGate, metrics: Metrics) -> None:
        self.app = app
        self.gate = gate
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # the headers read once, in one pass: the request id, the repeated-header rule and
        # the direct route's purpose headers (left in the scope when no single field repeats;
        # the server's protocol, ``lienthong.http_protocol``, may have left them already)
        headers = scope["headers"]
        read = scope.get(SINGLE_FIELDS_KEY)
        if read is not None and read[0] is headers:
            single: dict[bytes, bytes] = read[1]
            repeated = None
        else:
            single, repeated = read_single_fields(headers)
            if repeated is None:
                scope[SINGLE_FIELDS_KEY] = (headers, single)
        request_id, token = adopt_raw_request_id(scope, single.get(REQUEST_ID_HEADER))
        out = _Out(send, request_id)
        started = perf_counter()
        gate = self.gate
        release = None
        try:
            app_send: _AppSend | _SignedAppSend
            body: bytes | None = None
            if gate.exempt(scope.get("path", "")):
                app_send = _AppSend(scope, out)
            else:
                admitted = await gate.admitted(scope, receive, out)
                if admitted is None:
                    return
                request, body, release = admitted
                app_send = _SignedAppSend(scope, gate, request, out)
                receive = replaying(body, receive)
            # the two-readings rules, on the body the signature check read (or read here, on
            # an exempt path, when a rule needs it)
            refusal = refusal_of_head(scope, repeated)
            if refusal is None and reads_body(scope):
                if body is None:
                    body = await read_body(receive)
                    receive = replaying(body, receive)
                refusal = body_refusal(body)
            if refusal is not None:
                await refusal.answer(scope, receive, app_send)
                return
            try:
                await self.app(scope, receive, app_send)
            except Exception as exc:  # the error boundary
                api_error = unhandled_error(exc, scope)
                if app_send.app_started:
                    raise
                await api_error_response(api_error, scope)(scope, receive, app_send)
        except Exception:
            # what escapes the steps above is answered as Starlette's ServerErrorMiddleware
            # answers it (plain 500, unless an answer went out) and raised on to the server,
            # so the layer may be served with or without that middleware around it
            if not out.started:
                await _server_error()(scope, receive, send)
            raise
        finally:
            if release is not None:
                release()
            self.metrics.observe_request(scope, out.status, perf_counter() - started)
            request_id_var.reset(token)


__all__ = ["Front"]
