"""Request ids: accepted or made, echoed, and turned into the upstream message id."""

from __future__ import annotations

import uuid

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from adapter_api.request_id import (
    RequestIdMiddleware,
    accept_request_id,
    current_request_id,
    message_id_for,
)


def test_sane_ids_are_kept_and_others_replaced() -> None:
    """A token of safe characters is kept; an empty, long or odd one becomes a fresh UUID."""
    assert accept_request_id("abc-123_X.y:z") == "abc-123_X.y:z"
    for bad in (None, "", "a" * 129, "has space", "semi;colon", "ünïcode"):
        made = accept_request_id(bad)
        assert made != bad
        uuid.UUID(made)


def test_message_id_is_the_uuid_or_derived_from_it() -> None:
    """A UUID request id is the upstream message id; another id maps to a stable UUIDv5."""
    rid = str(uuid.uuid4())
    assert message_id_for(rid) == rid
    derived = message_id_for("order-42")
    assert uuid.UUID(derived).version == 5
    assert derived == message_id_for("order-42")
    assert derived != message_id_for("order-43")


async def _endpoint(scope, receive, send):  # type: ignore[no-untyped-def]
    request = Request(scope, receive)
    seen = {"state": request.scope["state"]["request_id"], "context": current_request_id()}
    await JSONResponse(seen)(scope, receive, send)


async def test_middleware_echoes_and_exposes_the_id() -> None:
    """The id reaches the scope and the log context, and comes back in X-Request-Id."""
    app = RequestIdMiddleware(_endpoint)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        given = await client.get("/", headers={"X-Request-Id": "trace-1"})
        fresh = await client.get("/")
    assert given.headers["x-request-id"] == "trace-1"
    assert given.json() == {"state": "trace-1", "context": "trace-1"}
    made = fresh.headers["x-request-id"]
    assert fresh.json()["state"] == made
    uuid.UUID(made)
    assert current_request_id() is None
