"""What routes share: the container, the call context for upstreams, and fast JSON responses."""

from __future__ import annotations

import json
from collections.abc import Set
from contextlib import AbstractAsyncContextManager
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope, Send

from adapter_api.clients import ApiClient
from adapter_api.container import Container
from adapter_api.request_id import accept_request_id, new_message_id
from connectors.base import CallContext

JSON_MEDIA_TYPE = "application/json"
_JSON_MEDIA_TYPE_BYTES = JSON_MEDIA_TYPE.encode("latin-1")


def container_of(request: Request) -> Container:
    """The adapter's container (set by ``create_app``)."""
    container: Container = request.app.state.container
    return container


def request_id_in(scope: Scope) -> str:
    """The request id the middleware accepted (or a new one outside it)."""
    value = (scope.get("state") or {}).get("request_id")
    return value if isinstance(value, str) else accept_request_id(None)


def request_id_of(request: Request) -> str:
    """The request id the middleware accepted for ``request`` (:func:`request_id_in`)."""
    return request_id_in(request.scope)


def call_context(
    client: ApiClient, *, user_id: str | None = None, issue: str | None = None
) -> CallContext:
    """The upstream call's context: a fresh message id, the caller, the purpose.

    The caller's request id is correlation only (kept in the access log beside the message id).
    """
    return CallContext(new_message_id(), client.client_id, user_id, issue)


def records_together(container: Container) -> AbstractAsyncContextManager[None]:
    """A block whose message-log and access-log records are committed together at its end
    (``LookupLogs.together``): one commit to wait for per lookup instead of two in a row."""
    return container.logs.together()


def model_json(model: BaseModel, *, include: Set[str] | None = None) -> bytes:
    """``model`` serialised by pydantic-core straight to JSON bytes (no re-validation), its
    ``None`` members left out; only the fields in ``include`` when given."""
    fields = set(include) if include is not None else None
    return model.__pydantic_serializer__.to_json(model, include=fields, exclude_none=True)


def json_response(
    model: BaseModel, *, status: int = 200, include: Set[str] | None = None
) -> Response:
    """``model`` as a JSON response (:func:`model_json`)."""
    body = model_json(model, include=include)
    return Response(body, status_code=status, media_type=JSON_MEDIA_TYPE)


async def send_json(send: Send, body: bytes, *, status: int = 200) -> None:
    """Answer the JSON ``body`` on ``send`` with the messages a ``Response(body,
    status_code=status, media_type="application/json")`` sends (the same status and headers),
    without making one: for a route served outside FastAPI (``adapter_api.routes.direct``)."""
    headers = [
        (b"content-length", b"%d" % len(body)),
        (b"content-type", _JSON_MEDIA_TYPE_BYTES),
    ]
    # the front layer's signing send takes the whole answer in one call (``send_whole``): the
    # same answer as from the two messages, without holding them until the last
    send_whole = getattr(send, "send_whole", None)
    if send_whole is not None:
        await send_whole(status, headers, body)
        return
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def json_bytes_response(data: Any, *, status: int = 200) -> Response:
    """Plain data (dicts, lists) as a JSON response."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(body.encode("utf-8"), status_code=status, media_type=JSON_MEDIA_TYPE)


__all__ = [
    "JSON_MEDIA_TYPE",
    "call_context",
    "container_of",
    "json_bytes_response",
    "json_response",
    "model_json",
    "records_together",
    "request_id_in",
    "request_id_of",
    "send_json",
]
