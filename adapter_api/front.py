"""The adapter's front layer: every step between the server and FastAPI, in one ASGI callable.

Six middleware layers would each wrap ``send`` and add a call to every request and every
response message; this layer takes the same steps, in the same order, with one ``send`` the app
sees (:class:`_SignedAppSend`, which also holds and signs the answer; :class:`_AppSend` on an
exempt path) and no callback of its own between the signature check and the app
(:meth:`SignatureGate.admitted`). Outermost first:

1. the request id — accepted or made, in the scope and the logs' context, echoed as the last
   ``X-Request-Id`` of every answer (:mod:`adapter_api.request_id`);
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

import time

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter_api.handlers import api_error_response, unhandled_error
from adapter_api.metrics import Metrics
from adapter_api.rate_limits import add_rate_limit_fields
from adapter_api.request_guard import body_refusal, head_refusal, read_body, reads_body
from adapter_api.request_id import adopt_request_id, echo_request_id, request_id_var
from security.asgi import SignatureGate, SignedResponse, replaying
from security.http_signatures import RequestView

RawHeaders = list[tuple[bytes, bytes]]


def _server_error() -> PlainTextResponse:
    """The answer to an exception that escapes the front layer's steps, as Starlette's
    ``ServerErrorMiddleware`` (not debugging, no handler of its own) gives it."""
    return PlainTextResponse("Internal Server Error", status_code=500)


class _Out:
    """The answer's way to the server: its status noted (for the metrics), the request id
    echoed. Holds no reference back to what sends through it, so a request leaves no cycle
    for the garbage collector."""

    __slots__ = ("_request_id", "_send", "started", "status")

    def __init__(self, send: Send, request_id: bytes) -> None:
        self._send = send
        self._request_id = request_id
        #: the status sent to the server (500 until one is)
        self.status = 500
        #: whether an answer has started on the server's ``send``
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            echo_request_id(message, self._request_id)
        await self._send(message)


class _AppSend:
    """The one ``send`` the app sees on an exempt path: RateLimit fields on the start, then
    straight out."""

    __slots__ = ("_out", "_scope", "started")

    def __init__(self, scope: Scope, out: _Out) -> None:
        self._scope = scope
        self._out = out
        #: whether the app has started its answer (the error boundary then raises on)
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            add_rate_limit_fields(message, self._scope)
        await self._out(message)


class _SignedAppSend(SignedResponse):
    """The one ``send`` the app sees on a signed path: RateLimit fields on the start, then the
    answer held and signed bound to the request (:class:`~security.asgi.SignedResponse`);
    :meth:`send_whole` takes a whole answer in one call
    (:func:`adapter_api.routes.context.send_json`)."""

    __slots__ = ("_scope",)

    def __init__(self, scope: Scope, gate: SignatureGate, request: RequestView, out: _Out) -> None:
        super().__init__(gate, request, out)
        self._scope = scope

    @property
    def started(self) -> bool:
        """Whether the app has started its answer (the error boundary then raises on)."""
        return self.start is not None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            add_rate_limit_fields(message, self._scope)
        await super().__call__(message)

    async def send_whole(self, status: int, headers: RawHeaders, body: bytes) -> None:
        """Answer ``status``, ``headers`` and ``body`` as a start and one last body message
        would be answered."""
        start: Message = {"type": "http.response.start", "status": status, "headers": headers}
        add_rate_limit_fields(start, self._scope)
        self.start = start
        await self._gate.send_signed(self._send, self._request, status, start["headers"], body)


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
        request_id, token = adopt_request_id(scope)
        out = _Out(send, request_id)
        started = time.perf_counter()
        gate = self.gate
        try:
            if gate.exempt(scope.get("path", "")):
                await self._checked(scope, receive, None, _AppSend(scope, out))
            else:
                admitted = await gate.admitted(scope, receive, out)
                if admitted is not None:
                    request, body, release = admitted
                    try:
                        sink = _SignedAppSend(scope, gate, request, out)
                        await self._checked(scope, receive, body, sink)
                    finally:
                        release()
        except Exception:
            # what escapes the steps above is answered as Starlette's ServerErrorMiddleware
            # answers it (plain 500, unless an answer went out) and raised on to the server,
            # so the layer may be served with or without that middleware around it
            if not out.started:
                await _server_error()(scope, receive, send)
            raise
        finally:
            self.metrics.observe_request(scope, out.status, time.perf_counter() - started)
            request_id_var.reset(token)

    async def _checked(
        self, scope: Scope, receive: Receive, body: bytes | None, send: _AppSend | _SignedAppSend
    ) -> None:
        """Steps 5 and 6 for a request whose body the signature check read (``body``), or will
        be read here when a rule needs it (``None``: an exempt path)."""
        if body is not None:
            receive = replaying(body, receive)
        refusal = head_refusal(scope)
        if refusal is None and reads_body(scope):
            if body is None:
                body = await read_body(receive)
                receive = replaying(body, receive)
            refusal = body_refusal(body)
        if refusal is not None:
            await refusal.answer(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            api_error = unhandled_error(exc, scope)
            if send.started:
                raise
            await api_error_response(api_error, scope)(scope, receive, send)


__all__ = ["Front"]
