"""Errors the API answers with; each carries its HTTP status and a stable problem ``code``.

Tree::

    ApiError                      base: status, code, title, detail (+ extension members)
    ├── BadRequest           400  a malformed header, cursor or parameter
    ├── Unauthenticated      401  unknown client, missing or bad signature, replay
    ├── Forbidden            403  the client is not allowed the operation
    ├── NotFoundError        404  no such resource, or one the client may not see
    ├── Conflict             409  the request conflicts with current state (illegal transition)
    ├── InvalidInput         422  a field is invalid; ``errors`` names the fields
    ├── TooManyRequests      429  a rate limit or a daily budget is spent (``Retry-After``)
    ├── UpstreamFailed       502  a national system answered wrongly (``upstream`` names it)
    ├── ServiceUnavailable   503  an upstream (or the store) cannot be used now
    └── UpstreamTimedOut     504  a national system did not answer in time

Errors raised by the other packages (schemas, security, connectors, store) are translated into
this tree by :func:`adapter_api.error_mapping.to_api_error`; only this package speaks HTTP.
Details never echo personal data or payloads.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by routes and dependencies to answer with a problem document."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        self.headers = headers or {}
        self.extra: dict[str, Any] = extra


class BadRequest(ApiError):
    """Raised when a header, cursor or parameter is malformed beyond field validation."""

    status = 400
    code = "bad_request"
    title = "Bad request"


class Unauthenticated(ApiError):
    """Raised when the caller cannot be authenticated (unknown, unsigned, bad signature, replay)."""

    status = 401
    code = "unauthenticated"
    title = "Not authenticated"


class Forbidden(ApiError):
    """Raised when an authenticated client is not allowed the operation it asked for."""

    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFoundError(ApiError):
    """Raised when a resource does not exist, or exists outside what the client may see."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(ApiError):
    """Raised when a request conflicts with the resource's state (an illegal transition)."""

    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidInput(ApiError):
    """Raised when input fields are invalid; ``errors`` lists ``{field, message}``."""

    status = 422
    code = "validation_failed"
    title = "Invalid input"


class TooManyRequests(ApiError):
    """Raised when a client has spent a rate limit or a daily budget; headers say until when."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"


class UpstreamFailed(ApiError):
    """Raised when a national system refused us, answered wrongly or with a bad signature."""

    status = 502
    code = "upstream_error"
    title = "Upstream error"


class ServiceUnavailable(ApiError):
    """Raised when an upstream is unavailable or its circuit is open, or the store is down."""

    status = 503
    code = "unavailable"
    title = "Service unavailable"


class UpstreamTimedOut(ApiError):
    """Raised when a national system did not answer in time."""

    status = 504
    code = "upstream_timeout"
    title = "Upstream timeout"


__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFoundError",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthenticated",
    "UpstreamFailed",
    "UpstreamTimedOut",
]
