"""The adapter's front layer: every step between the server and FastAPI, in one ASGI callable.

Six middleware layers would each wrap ``send`` and add a call to every request and every
response message; this layer takes the same steps, in the same order, with one ``send`` the app
sees (:meth:`_Exchange.send`). Outermost first:

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
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter_api.handlers import api_error_response, unhandled_error
from adapter_api.metrics import Metrics
from adapter_api.rate_limits import add_rate_limit_fields
from adapter_api.request_guard import body_refusal, head_refusal, read_body, reads_body
from adapter_api.request_id import adopt_request_id, echo_request_id, request_id_var
from security.asgi import SignatureGate, SignedResponse, replaying
from security.http_signatures import RequestView


class _Exchange:
    """One request's answer on its way out: what the app's ``send`` passes through."""

    __slots__ = ("_request_id", "_send", "scope", "sink", "started", "status")

    def __init__(self, scope: Scope, send: Send, request_id: bytes) -> None:
        self.scope = scope
        self._send = send
        self._request_id = request_id
        #: where the app's messages go once seen: the signing buffer, or straight out
        self.sink: Send = self.out
        #: whether the app has started its answer (the error boundary then raises on)
        self.started = False
        #: the status sent to the server (500 until one is)
        self.status = 500

    async def send(self, message: Message) -> None:
        """The app's ``send``: RateLimit fields on the start, then to the sink."""
        if message["type"] == "http.response.start":
            self.started = True
            add_rate_limit_fields(message, self.scope)
        await self.sink(message)

    async def out(self, message: Message) -> None:
        """To the server: the status noted for the metrics, the request id echoed."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
            echo_request_id(message, self._request_id)
        await self._send(message)


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
        exchange = _Exchange(scope, send, request_id)
        started = time.perf_counter()
        try:
            if self.gate.exempt(scope.get("path", "")):
                await self._checked(scope, receive, None, exchange)
            else:

                async def signed(request: RequestView, body: bytes) -> None:
                    exchange.sink = SignedResponse(self.gate, request, exchange.out)
                    await self._checked(scope, receive, body, exchange)

                await self.gate.verified(scope, receive, exchange.out, signed)
        finally:
            self.metrics.observe_request(scope, exchange.status, time.perf_counter() - started)
            request_id_var.reset(token)

    async def _checked(
        self, scope: Scope, receive: Receive, body: bytes | None, exchange: _Exchange
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
            await refusal.answer(scope, receive, exchange.send)
            return
        try:
            await self.app(scope, receive, exchange.send)
        except Exception as exc:
            api_error = unhandled_error(exc, scope)
            if exchange.started:
                raise
            await api_error_response(api_error, scope)(scope, receive, exchange.send)


__all__ = ["Front"]
