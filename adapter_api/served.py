"""The adapter's FastAPI app, its front layer served first.

Why: FastAPI puts five layers above the first user middleware — its own ``__call__`` (telemetry
and root path), Starlette's (the app in the scope, the stack built once),
``ServerErrorMiddleware`` (a ``send`` wrapper made per request), ``ExceptionTelemetryMiddleware``
and ``AppBodyLimitMiddleware`` — and every request passes down through them, every answer's
messages back up, and the whole chain is resumed each time the request resumes from a wait
(the population call, the log commit). With telemetry off, no body limit of FastAPI's and no
500 handler or debug page, none of them does anything for an HTTP request that the adapter's
front layer (:class:`~adapter_api.front.Front`) does not do already: the front layer answers
every exception from below as a signed problem, and one that escapes its own steps as
``ServerErrorMiddleware`` would (a plain 500, raised on to the server).

How: :class:`AdapterApp` finds the front layer in the stack FastAPI builds; when every layer
above it is one of those five doing nothing, an HTTP request is handed to the front layer
directly, with the app and root path put in the scope as they would be. Anything else —
lifespan, websockets, a scope that carries a parent app's body limit, an app whose fast paths
are off (:func:`~adapter_api.routes.fast_path.without_fast_paths`), a stack with another layer
above the front — goes through FastAPI's whole stack, which is not changed.
``tests/unit/test_api_fast_path_parity.py`` compares the answers of both ways.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi._body_limit import AppBodyLimitMiddleware
from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from adapter_api.front import Front
from adapter_api.routes.fast_path import fast_paths_on_app

#: the layers FastAPI puts above the user middleware, which pass an HTTP request on unchanged
#: when the app has no telemetry, no body limit, no 500 handler and no debug page
_PASSING = (ServerErrorMiddleware, ExceptionTelemetryMiddleware, AppBodyLimitMiddleware)
_TELEMETRY = ("tracing", "metrics", "logs")


def front_below(stack: ASGIApp) -> Front | None:
    """The front layer of ``stack`` when only :data:`_PASSING` layers are above it."""
    layer: Any = stack
    while isinstance(layer, _PASSING):
        layer = layer.app
    return layer if isinstance(layer, Front) else None


class AdapterApp(FastAPI):
    """A FastAPI app that hands HTTP requests to its front layer directly (module docstring)."""

    _front: Front | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        self._front = front_below(stack) if self._layers_above_pass() else None
        return stack

    def _layers_above_pass(self) -> bool:
        """Whether FastAPI's layers above the user middleware do nothing for HTTP requests."""
        telemetry: Any = self._native_telemetry.config
        handlers = self.exception_handlers
        return (
            not self.debug
            and self.max_body_size is None
            and 500 not in handlers
            and Exception not in handlers
            and not any(telemetry[kind] for kind in _TELEMETRY)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self._front
        if (
            front is None
            or scope["type"] != "http"
            or MAX_BODY_SIZE_SCOPE_KEY in scope
            or not fast_paths_on_app(self)
        ):
            await super().__call__(scope, receive, send)
            return
        if self.root_path:
            scope["root_path"] = self.root_path
        scope["app"] = self
        await front(scope, receive, send)


__all__ = ["AdapterApp", "front_below"]
