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
    fresh_uuid4,
    new_message_id,
)


def test_sane_ids_are_kept_and_others_replaced() -> None:
    """A token of safe characters is kept; an empty, long or odd one becomes a fresh UUID."""
    assert accept_request_id("abc-123_X.y:z") == "abc-123_X.y:z"
    for bad in (None, "", "a" * 129, "has space", "semi;colon", "ünïcode"):
        made = accept_request_id(bad)
        assert made != bad
        uuid.UUID(made)


def test_message_ids_are_fresh_uuids() -> None:
    """Every upstream message id is a new UUID4, whatever the request id."""
    made = {new_message_id() for _ in range(100)}
    assert len(made) == 100
    assert all(uuid.UUID(m).version == 4 for m in made)


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


def test_fresh_uuids_read_as_uuid4_in_the_usual_form() -> None:
    """A made id parses as a version-4, RFC 4122 UUID and prints back the same, every time."""
    for _ in range(1000):
        made = fresh_uuid4()
        parsed = uuid.UUID(made)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == made
