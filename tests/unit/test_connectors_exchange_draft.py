"""An exchange built as a draft and sealed is the ``Exchange`` its fields make, in every respect."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from connectors.base import CallContext, UpstreamConfig
from connectors.errors import UpstreamUnavailable
from connectors.exchange import Exchange, ExchangeDraft, MemoryRecorder, sealed
from connectors.transport import FakeTransport, HttpResponse
from connectors.upstream import UpstreamClient

STARTED = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)


def _fields(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "upstream": "population",
        "operation": "GetCitizen",
        "protocol": "soap",
        "message_id": "m-1",
        "client": "province-app",
        "sender": "adapter",
        "receiver": "population",
        "user_id": "VN001090000001",
        "issue": "000.00.04.H04-261126-0007",
        "method": "POST",
        "url": "http://127.0.0.1:1/population/soap",
        "request": b"<request/>",
        "request_headers": {"Content-Type": "text/xml; charset=utf-8"},
        "response": b"<response/>",
        "response_headers": {"content-type": "text/xml"},
        "status": 200,
        "outcome": "ok",
        "started_at": STARTED,
        "finished_at": STARTED + dt.timedelta(milliseconds=3),
        "attempt": 2,
        "request_certificate": None,
        "response_certificate": None,
        "secrets": (("password", "s3cret"),),
        "request_sha256": "ab" * 32,
    }
    values.update(changes)
    return values


def _sealed(values: dict[str, Any]) -> Exchange:
    draft: Any = ExchangeDraft()
    for name, value in values.items():
        setattr(draft, name, value)
    return sealed(draft)


def test_a_sealed_draft_is_the_exchange_of_its_fields() -> None:
    values = _fields()
    made, plain = _sealed(values), Exchange(**values)
    assert type(made) is Exchange
    assert made == plain
    assert repr(made) == repr(plain)
    assert dataclasses.astuple(made) == dataclasses.astuple(plain)
    assert made.succeeded
    assert made.duration_ms == plain.duration_ms
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.outcome = "changed"  # type: ignore[misc]
    assert dataclasses.replace(made, attempt=3) == dataclasses.replace(plain, attempt=3)


def test_a_draft_takes_only_the_exchange_fields_and_misses_none_silently() -> None:
    draft: Any = ExchangeDraft()
    with pytest.raises(AttributeError):
        draft.not_a_field = 1
    half = sealed(draft)
    with pytest.raises(AttributeError):
        _ = half.upstream


class _Client(UpstreamClient):
    protocol = "soap"


async def _unused(method: str, url: str, headers: Any, body: bytes) -> HttpResponse:
    raise AssertionError("no request is sent")


@pytest.mark.parametrize("failed", [False, True])
async def test_record_builds_the_exchange_its_arguments_name(failed: bool) -> None:
    recorder = MemoryRecorder()
    client = _Client(
        UpstreamConfig(name="population", base_url="http://127.0.0.1:1/population/soap"),
        sender="adapter",
        transport=FakeTransport(_unused),
        recorder=recorder,
    )
    ctx = CallContext("m-1", "province-app", "VN001090000001", "000.00.04.H04-261126-0007")
    response = None if failed else HttpResponse(200, {"content-type": "text/xml"}, b"<r/>")
    error = UpstreamUnavailable("down", upstream="population", fault_code="http_503")
    before = dt.datetime.now(dt.UTC)
    await client.record(
        operation="GetCitizen",
        ctx=ctx,
        method="POST",
        url="http://127.0.0.1:1/population/soap",
        request=b"<request/>",
        request_headers={"Content-Type": "text/xml; charset=utf-8"},
        response=response,
        error=error if failed else None,
        started_at=before,
        attempt=2,
        secrets=(("password", "s3cret"),),
        time_limit=5.0,
        request_sha256="ab" * 32,
    )
    (made,) = recorder.exchanges
    expected = Exchange(
        **_fields(
            response=None if failed else b"<r/>",
            response_headers={} if failed else {"content-type": "text/xml"},
            status=None if failed else 200,
            outcome="http_503" if failed else "ok",
            started_at=before,
            finished_at=made.finished_at,
        )
    )
    assert type(made) is Exchange
    assert made == expected
    assert before <= made.finished_at <= dt.datetime.now(dt.UTC)
