"""Turning every failure into a problem document: exception handlers and the last-resort guard.

* :func:`api_error_response` — an :class:`ApiError` (or anything ``to_api_error`` maps) as RFC 9457;
* FastAPI's validation errors become 422 ``validation_failed`` with ``errors[].field`` such as
  ``path.citizen_id`` or ``header.X-Issue`` (messages only, never the input); an error with a
  stable kind (unclean text, a date outside its window: :data:`FIELD_ERROR_CODES`) carries it
  as ``errors[].code``, and when every error is of one such kind it is the problem's ``code``;
* routing's 404/405 become ``not_found`` / ``method_not_allowed`` (``Allow`` kept);
* :func:`unhandled_error` turns anything unexpected into 500 ``internal_error``; the adapter's
  front layer answers it inside its signing step, so even a bug's response is signed and carries
  the request id (:class:`ErrorBoundary` is the same as a pure ASGI middleware of its own).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter_api.error_mapping import to_api_error
from adapter_api.errors import ApiError
from adapter_api.problems import problem_response
from schemas.text import TEXT_ERRORS

logger = logging.getLogger("lienthong.api")

_LOCATIONS = {"path", "query", "header", "body", "cookie"}

#: pydantic error types that are stable refusal codes of their own
FIELD_ERROR_CODES = frozenset({*TEXT_ERRORS, "date_out_of_range"})


def problem_code(errors: list[dict[str, Any]]) -> str:
    """The code of a 422 problem listing ``errors``: their one stable kind, else
    ``validation_failed``."""
    kinds = {error.get("code") for error in errors}
    if len(kinds) == 1:
        (kind,) = kinds
        if isinstance(kind, str):
            return kind
    return "validation_failed"


def field_error(field: str, message: str, kind: object) -> dict[str, Any]:
    """One ``errors[]`` member; ``kind`` (a pydantic error type) kept when it is a stable code."""
    error: dict[str, Any] = {"field": field, "message": message}
    if kind in FIELD_ERROR_CODES:
        error["code"] = kind
    return error


def _request_id(scope: Scope) -> str | None:
    state = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else None


def api_error_response(exc: ApiError, scope: Scope) -> Response:
    """The problem response for ``exc`` on the request of ``scope``."""
    return problem_response(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        instance=scope.get("path"),
        request_id=_request_id(scope),
        extra=exc.extra,
        headers=exc.headers or None,
    )


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("header", "X-Issue")`` → ``header.X-Issue``; ``("body", "a", 0)`` → ``body.a.0``."""
    parts = [str(part) for part in loc]
    if not parts:
        return "request"
    return ".".join(parts)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error_response(exc, request.scope)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if loc and loc[0] == "header" and len(loc) > 1:
            loc = ("header", _header_title(str(loc[1])), *loc[2:])
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        errors.append(field_error(field_name(loc), message, error.get("type")))
    fields = ", ".join(sorted({e["field"] for e in errors})) or "the request"
    api_error = ApiError(f"invalid input: {fields}", code=problem_code(errors), errors=errors)
    api_error.status = 422
    api_error.title = "Invalid input"
    return api_error_response(api_error, request.scope)


def _header_title(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-"))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        code, title, detail = "not_found", "Not found", "no such resource"
    elif exc.status_code == 405:
        code, title, detail = "method_not_allowed", "Method not allowed", "method not allowed here"
    else:
        code, title, detail = "http_error", "HTTP error", str(exc.detail)
    return problem_response(
        exc.status_code,
        code,
        title,
        detail,
        instance=request.scope.get("path"),
        request_id=_request_id(request.scope),
        headers=headers or None,
    )


async def _on_mapped_error(request: Request, exc: Exception) -> Response:
    api_error = to_api_error(exc)
    if api_error is None:
        raise exc
    return api_error_response(api_error, request.scope)


def install_handlers(app: FastAPI, *mapped: type[Exception]) -> None:
    """Register the problem-document handlers on ``app``; ``mapped`` go through ``to_api_error``."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    for exc_type in mapped:
        app.add_exception_handler(exc_type, _on_mapped_error)


class ErrorBoundary:
    """Answers 500 ``internal_error`` (problem+json) for an exception no handler took.

    Sits inside the signature middleware so the answer is signed; logs the exception's type,
    the route template and the stack (with the request id), never its message or the request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            api_error = unhandled_error(exc, scope)
            if started:
                raise
            await api_error_response(api_error, scope)(scope, receive, send)


def unhandled_error(exc: Exception, scope: Scope) -> ApiError:
    """The ``ApiError`` to answer for ``exc``, which no handler took: its mapping if it has one,
    else 500 ``internal_error`` — logged with the exception's type, the route template and the
    stack (the frames, not the message: a message may quote personal data)."""
    api_error = to_api_error(exc)
    if api_error is not None:
        return api_error
    logger.error(
        "unhandled %s on %s %s\n%s",
        type(exc).__name__,
        scope.get("method"),
        getattr(scope.get("route"), "path", "-"),
        "".join(traceback.format_tb(exc.__traceback__)),
    )
    return ApiError("an internal error occurred; it has been logged")


__all__ = [
    "FIELD_ERROR_CODES",
    "ErrorBoundary",
    "api_error_response",
    "field_error",
    "field_name",
    "install_handlers",
    "problem_code",
    "unhandled_error",
]
