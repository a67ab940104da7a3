"""The app factory: the FastAPI app around a built :class:`~adapter_api.container.Container`.

One ASGI layer in front of FastAPI (:class:`~adapter_api.front.Front`, pure ASGI), to which the
app hands HTTP requests directly (:class:`~adapter_api.served.AdapterApp`: FastAPI's layers above
it do nothing the front layer does not do), takes these steps, outermost first::

    request id        accept or make X-Request-Id, echo it, put it in the logs
    metrics           requests by route template and status, latency
    signature         refuse on the headers alone what costs memory unsigned (no signature,
                      unknown key, a body over the route's limit, too many bodies in flight:
                      settings "Limits"); verify the RFC 9421 request signature (401 problem
                      on failure: accountability headers uncovered, @authority not one of
                      public_authorities …), sign the response; /healthz, /readyz, /metrics,
                      /openapi.json and /docs are exempt
    RateLimit fields  of a counted call (adapter_api.rate_limits)
    two readings      400 for a repeated Host, X-Request-Id, X-User-Id or X-Issue, %2F in
                      the path, a JSON body repeating a key (adapter_api.request_guard)
    error boundary    anything unexpected becomes a signed 500 problem
    direct route      a valid GET /v1/citizens/{citizen_id} served without FastAPI's
                      routing and dependencies (adapter_api.routes.direct); the rest on
    FastAPI           routes, validation (422 problems), error handlers

The container's services (sync worker, sandbox mock server) start and stop with the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from adapter_api.container import Container
from adapter_api.front import Front
from adapter_api.handlers import install_handlers
from adapter_api.openapi import install_openapi
from adapter_api.problems import PROBLEM_MEDIA_TYPE, problem_body
from adapter_api.request_id import current_request_id
from adapter_api.routes import ROUTERS
from adapter_api.routes.citizens import lookup_route
from adapter_api.routes.direct import DirectCitizenLookup
from adapter_api.served import AdapterApp
from connectors.errors import ConnectorError
from schemas.errors import SchemaError
from security.admission import BodiesInFlight, BodyLimits
from security.asgi import SignatureGate, refusal_status
from security.errors import Overloaded, SecurityError
from store.errors import StoreError

#: Paths served without a signature (probes, Prometheus, the API description).
EXEMPT_PATHS: frozenset[str] = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect"}
)
#: The operator console authenticates people with its own sessions, not request signatures.
CONSOLE_PATH = "/console"

DESCRIPTION = """\
One signed JSON API over the national population database (SOAP), the business registry and
the National Public Service Portal. Requests must be signed with HTTP Message Signatures
(RFC 9421) by a registered client; responses are signed by the adapter. Errors are
`application/problem+json` (RFC 9457) with a stable `code`.
"""


def _version() -> str:
    try:
        return version("lienthong")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


_TITLES = {
    413: "Request too large",
    429: "Too many requests",
    503: "Service unavailable",
}


def signature_failure(exc: SecurityError) -> tuple[int, list[tuple[str, str]], bytes]:
    """The refusal of a request whose signature is missing, wrong or replayed (401; 413 if
    huge; 429 / 503 with ``Retry-After`` when its client / the adapter has too many bodies in
    flight). A problem document with the refusal's ``reason`` as its code and the request id.
    """
    status = refusal_status(exc)
    title = _TITLES.get(status, "Not authenticated")
    body = problem_body(status, exc.reason, title, exc.message, request_id=current_request_id())
    headers = [("content-type", PROBLEM_MEDIA_TYPE)]
    if isinstance(exc, Overloaded):
        headers.append(("retry-after", "1"))
    return status, headers, body


def create_app(container: Container) -> FastAPI:
    """The adapter API for ``container``; serve it with any ASGI server."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await container.start()
        try:
            yield
        finally:
            await container.stop()

    app = AdapterApp(
        title="lienthong adapter API",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # FastAPI's built-in OpenTelemetry hooks look the providers up on every request;
        # this service's figures are its Prometheus metrics.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.container = container
    for router in ROUTERS:
        app.include_router(router)
    if container.console is not None:
        app.mount(CONSOLE_PATH, container.console)
    install_handlers(app, ConnectorError, SchemaError, StoreError)
    install_openapi(app)
    settings = container.settings
    gate = SignatureGate(
        verifier=container.verifier,
        signer=container.signer,
        exempt_paths=EXEMPT_PATHS | {CONSOLE_PATH, CONSOLE_PATH + "/*"},
        on_error=signature_failure,
        body_limit=BodyLimits(settings.max_body_bytes, settings.body_limits),
        in_flight=BodiesInFlight(
            settings.max_bodies_in_flight, settings.max_bodies_in_flight_per_client
        ),
    )
    # the last added is the outermost: the front layer, then the direct route, then FastAPI
    app.add_middleware(DirectCitizenLookup, container=container, route=lookup_route())
    app.add_middleware(Front, gate=gate, metrics=container.metrics)
    return app


__all__ = ["CONSOLE_PATH", "EXEMPT_PATHS", "create_app", "signature_failure"]
