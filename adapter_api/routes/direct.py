"""The direct route: ``GET /v1/citizens/{citizen_id}`` served before FastAPI sees the request.

Why: on the busiest route FastAPI's routing (the included routers' routes tried in turn), its
exception wrapping (two layers, two exit stacks, a ``Request``) and its dependency resolution
cost about as much CPU as the route's own code; and every layer they add is passed through
again each time the lookup resumes from a wait (the population call, the log commit).

How: :class:`DirectCitizenLookup` is an ASGI layer between the adapter's front layer
(:mod:`adapter_api.front`) and FastAPI. It claims a request only when it is exactly
``GET`` on the lookup route's path (no root path; one path segment after the prefix), its
inputs are what the route's declared parameters accept (the fast-path reader's reading,
:func:`~adapter_api.routes.fast_path.citizen_lookup_inputs`, the purpose headers read where
the server's protocol or the front layer left them) and the app's fast paths are on
(:func:`~adapter_api.routes.fast_path.fast_paths_on`). It then does what the FastAPI route
does, in the same order: the route put in the scope (the metrics' ``route`` label, the error
log); the client admitted as the route's ``require`` dependency admits it (401, 403, 429 with
the RateLimit fields: :func:`~adapter_api.auth.admitted_client`); the route's body
(:func:`~adapter_api.routes.citizens.look_up_citizen`), its JSON sent as FastAPI's
``Response`` would send it (:func:`~adapter_api.routes.context.send_json`); the lookup's own
coroutine is what the front layer awaits (this layer adds no frame of its own). An exception
goes up to the front layer's error boundary, which answers it as FastAPI's exception handlers
would: both answer an exception with its ``to_api_error`` problem
(:mod:`adapter_api.handlers`), else 500.

Everything else goes on to FastAPI unchanged — another method (``HEAD``, ``OPTIONS``), a
trailing slash or another path, an input missing, repeated or invalid — and is answered from
the declared route, which the OpenAPI document keeps describing.
``tests/unit/test_api_fast_path_parity.py`` sends the same requests to an adapter with its fast
paths and to one without (``without_fast_paths``) and requires the same answers.
"""

from __future__ import annotations

from collections.abc import Awaitable

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from adapter_api.auth import admitted_client
from adapter_api.container import Container
from adapter_api.request_guard import SINGLE_FIELDS_KEY
from adapter_api.routes.citizens import LOOKUP_OPERATION, look_up_citizen
from adapter_api.routes.fast_path import citizen_lookup_inputs, fast_paths_on


class DirectCitizenLookup:
    """Serves the citizen lookups it claims; passes every other request on to ``app``."""

    def __init__(self, app: ASGIApp, *, container: Container, route: APIRoute) -> None:
        prefix, _, parameter = route.path.rpartition("/")
        if parameter != "{citizen_id}" or route.methods != {"GET"}:
            raise TypeError(f"{route.path}: not the citizen lookup route")
        self.app = app
        self._container = container
        self._route = route
        self._prefix = prefix + "/"
        self._prefix_length = len(self._prefix)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """What serves the request: the lookup (:func:`look_up_citizen`, answering on ``send``)
        for a request this route claims, else ``app``'s. Not a coroutine function: what it
        returns is awaited in its place, so no frame of this layer sits between the front
        layer and the lookup each time the lookup resumes from a wait. The steps before the
        lookup run on the call (an exception from them, a refusal, is raised by the call, as
        the front layer's error boundary takes it)."""
        path: str = scope.get("path", "")
        if not (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and path.startswith(self._prefix)
            and not scope.get("root_path")
            and fast_paths_on(scope)
        ):
            return self.app(scope, receive, send)
        # the single fields the server's protocol or the front layer read, when they are
        # these headers' (the purpose headers read there, not again)
        headers = scope["headers"]
        read = scope.get(SINGLE_FIELDS_KEY)
        single = read[1] if read is not None and read[0] is headers else None
        citizen_id = path[self._prefix_length :]
        inputs = citizen_lookup_inputs(citizen_id, headers, single)
        if inputs is None:
            return self.app(scope, receive, send)
        scope["route"] = self._route
        container = self._container
        client = admitted_client(scope, container.clients, container.rate_limiter, LOOKUP_OPERATION)
        return look_up_citizen(
            container, scope, client, citizen_id, inputs["user_id"], inputs["issue"], send
        )


__all__ = ["DirectCitizenLookup"]
