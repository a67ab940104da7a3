"""Who is calling and what they may do: the FastAPI dependencies every ``/v1`` route uses.

The signature middleware (``security.asgi``) has already verified the request and put the
signer's keyid in ``scope["state"]["client_id"]``; here that keyid is looked up in the client
registry (unknown: 401), the route's operation checked against its allow-list (not allowed:
403) and counted against the client's rate limit (over it: 429, :mod:`adapter_api.rate_limits`).
Dependencies are ``async def``: FastAPI runs plain ``def`` ones in a thread pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.types import Scope

from adapter_api.clients import ApiClient, ClientRegistry, Operation
from adapter_api.errors import Forbidden, Unauthenticated
from adapter_api.rate_limits import STATE_KEY, RateLimiter


def authenticated_client(scope: Scope, clients: ClientRegistry) -> ApiClient:
    """The registered client whose signature the middleware verified (401 when none)."""
    state = scope.get("state") or {}
    client_id = state.get("client_id")
    if not client_id:
        raise Unauthenticated("the request carries no verified signature", code="unsigned")
    client = clients.get(client_id)
    if client is None:
        raise Unauthenticated("the signing key belongs to no registered client", code="unknown_key")
    return client


def admitted_client(
    scope: Scope, clients: ClientRegistry, limiter: RateLimiter | None, operation: Operation
) -> ApiClient:
    """The calling client of the request of ``scope`` when its allow-list grants ``operation``
    (401 / 403 otherwise), the call counted against its rate limit (429 over it) and the
    answer's RateLimit fields left in ``scope["state"]``."""
    # authenticated_client's reading, its refusals left to it (a call fewer when admitted)
    state = scope.get("state") or {}
    client_id = state.get("client_id")
    client = clients.get(client_id) if client_id else None
    if client is None:
        client = authenticated_client(scope, clients)  # raises the 401 that fits
        state = scope.setdefault("state", {})
    if operation not in client.operations:
        raise Forbidden(
            f"client {client.client_id} is not allowed {operation.value}",
            code="operation_not_allowed",
            operation=operation.value,
        )
    if limiter is not None:
        # the scope's own state: it held the client's id (or was just set, above)
        state[STATE_KEY] = limiter.check(client, operation)
    return client


def require(operation: Operation) -> Callable[[Request], Awaitable[ApiClient]]:
    """A dependency that yields the calling client when its allow-list grants ``operation``
    (:func:`admitted_client`)."""

    async def dependency(request: Request) -> ApiClient:
        container = request.app.state.container
        return admitted_client(request.scope, container.clients, container.rate_limiter, operation)

    dependency.__name__ = f"require_{operation.name.lower()}"
    return dependency


__all__ = ["admitted_client", "authenticated_client", "require"]
