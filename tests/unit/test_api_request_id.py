"""Request ids: accepted or made, echoed, and turned into the upstream message id."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse

from adapter_api.request_id import (
    RequestIdMiddleware,
    accept_request_id,
    current_request_id,
    echo_request_id,
    fresh_uuid4,
    new_message_id,
    uuid4_text,
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


def test_uuid4_text_is_the_uuid_modules_reading_of_the_same_bytes() -> None:
    """Every value of the two bytes the version and variant bits land in, and random bytes:
    the same text as ``uuid.UUID(bytes=raw, version=4)``."""
    cases = [bytes(range(16)), bytes(16), b"\xff" * 16]
    cases += [
        bytes(6) + bytes([six]) + b"\x00" + bytes([eight]) + bytes(7)
        for six in range(256)
        for eight in (0, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xC0, 0xFF, six)
    ]
    cases += [os.urandom(16) for _ in range(2000)]
    for raw in cases:
        assert uuid4_text(raw) == str(uuid.UUID(bytes=raw, version=4)), raw.hex()
    for wrong in (b"", bytes(15), bytes(17)):
        with pytest.raises(ValueError, match="16 bytes"):
            uuid4_text(wrong)


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"content-type", b"a")],
        [(b"x-request-id", b"own"), (b"a", b"b"), (b"x-request-id", b"own2")],
        [(b"X-Request-Id", b"upper is another name"), (b"a", b"b")],
    ],
)
def test_the_echo_keeps_the_other_headers_and_puts_the_id_last(
    headers: list[tuple[bytes, bytes]],
) -> None:
    """The app's own ids are dropped, the rest kept in order, ours last; the app's list is
    left as it was."""
    before = list(headers)
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    echo_request_id(start, b"ours")
    expected = [(k, v) for k, v in before if k != b"x-request-id"] + [(b"x-request-id", b"ours")]
    assert start["headers"] == expected
    assert headers == before
