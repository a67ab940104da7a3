"""Parity of the signed lookup's hot path with the plain readings it replaced.

Each fast reading here is compared, on valid and hostile inputs, with the plain reading it
stands for (written out in this file as it was): the one pass over a request's fields
(``lienthong.http_protocol.read_head``, ``adapter_api.request_guard.read_single_fields``)
against the head size, the body test, the first ``X-Request-Id``, the repeated-header rule and
the purpose headers read apart; the request id taken from raw bytes against its latin-1 text;
the purpose headers read where the front layer
left them; the rate counter's window and the RateLimit fields formatted as bytes; the client
admitted without ``authenticated_client``'s call.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter_api import request_id as request_id_module
from adapter_api.auth import admitted_client, authenticated_client
from adapter_api.clients import ClientRegistry, Operation, RateLimit, Role, make_client
from adapter_api.errors import ApiError, Unauthenticated
from adapter_api.rate_limits import RateLimiter
from adapter_api.request_guard import (
    SINGLE_FIELDS_KEY,
    SINGLE_HEADER_NAMES,
    head_refusal,
    read_single_fields,
    refusal_of_head,
    repeated_header,
)
from adapter_api.request_id import (
    REQUEST_ID_HEADER,
    accept_request_id,
    adopt_raw_request_id,
    adopt_request_id,
    fresh_uuid4,
    new_message_id,
    request_id_var,
    uuid4_text,
)
from adapter_api.routes.fast_path import citizen_lookup_inputs, single_headers
from lienthong.http_protocol import read_head
from security.rate_counters import Count, MemoryRateCounter, window_bounds

RawHeaders = list[tuple[bytes, bytes]]

CITIZEN_ID = "001085000123"
OFFICIAL = "VN001090000001"
ISSUE = "000.00.04.H04-261126-0001"

# ------------------------------------------------------------ the plain readings, as they were


def plain_head_size(url: bytes, headers: RawHeaders) -> int:
    return len(url) + sum(len(name) + len(value) + 4 for name, value in headers)


def plain_has_body(headers: RawHeaders) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def plain_first(headers: RawHeaders, wanted: bytes) -> bytes | None:
    for name, value in headers:
        if name == wanted:
            return value
    return None


def plain_adopted_id(headers: RawHeaders) -> str | None:
    """The request id the plain reading kept (None: it made a fresh one)."""
    first = plain_first(headers, REQUEST_ID_HEADER)
    incoming = None if first is None else first.decode("latin-1")
    return incoming if incoming and re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", incoming) else None


# ------------------------------------------------------------------ hostile header lists

_NAMES = [
    *sorted(SINGLE_HEADER_NAMES),
    b"transfer-encoding",
    b"content-length",
    b"accept",
    b"signature",
    b"x-request-ids",
    b"x-issue ",
    b"",
]
_VALUES = [
    b"",
    b"0",
    b"00",
    b" 0",
    b"1",
    b"chunked",
    b"abc-123_X.y:z",
    OFFICIAL.encode(),
    ISSUE.encode(),
    b"\xff\xfe",
    b"a" * 128,
    b"a" * 129,
    b"has space",
]
fields = st.tuples(
    st.one_of(st.sampled_from(_NAMES), st.binary(max_size=12)),
    st.one_of(st.sampled_from(_VALUES), st.binary(max_size=40)),
)
header_lists = st.lists(fields, max_size=12)


@settings(max_examples=400, deadline=None)
@given(url=st.binary(max_size=60), headers=header_lists)
def test_the_one_pass_over_the_head_reads_what_the_plain_readings_read(
    url: bytes, headers: RawHeaders
) -> None:
    """Size, body, the single fields' first values and first repeat: as read apart."""
    size, has_body, single, repeated = read_head(url, headers)
    assert size == plain_head_size(url, headers)
    assert has_body is plain_has_body(headers)
    assert (single, repeated) == read_single_fields(headers)
    plain_repeat = repeated_header(headers, SINGLE_HEADER_NAMES)
    assert (None if repeated is None else repeated.decode("latin-1")) == plain_repeat
    for name in SINGLE_HEADER_NAMES:
        assert single.get(name) == plain_first(headers, name)


@settings(max_examples=400, deadline=None)
@given(headers=header_lists, raw_path=st.sampled_from([b"/v1/a", b"/v1/a%2fb", b"/%2F", b""]))
def test_the_head_refusal_from_the_pass_is_the_plain_one(
    headers: RawHeaders, raw_path: bytes
) -> None:
    """``refusal_of_head`` on the pass's repeat is ``head_refusal``'s (repeat, then slash)."""
    scope: dict[str, Any] = {"headers": headers, "raw_path": raw_path, "path": "/"}
    plain = head_refusal(scope)
    fast = refusal_of_head(scope, read_single_fields(headers)[1])
    assert fast == plain
    name = repeated_header(headers, SINGLE_HEADER_NAMES)
    if name is not None:
        assert plain is not None
        assert plain.code == "repeated_header"
        assert plain.field == f"header.{name}"


def test_the_front_layer_reads_the_request_id_and_the_purpose_among_the_single_fields() -> None:
    """The pass records only the single fields: the request id and the purpose headers are."""
    assert {REQUEST_ID_HEADER, b"x-user-id", b"x-issue", b"host"} <= SINGLE_HEADER_NAMES


# ------------------------------------------------------------------ the request id


@pytest.mark.parametrize("byte", range(256))
def test_the_raw_id_pattern_takes_each_byte_as_the_text_pattern_takes_its_character(
    byte: int,
) -> None:
    """Every byte alone, and inside a sane token: the same verdict on bytes as on latin-1."""
    for raw in (bytes([byte]), b"ab" + bytes([byte]) + b"cd"):
        text = raw.decode("latin-1")
        assert bool(request_id_module._VALID_RAW.fullmatch(raw)) == bool(
            request_id_module._VALID.fullmatch(text)
        )


@settings(max_examples=400, deadline=None)
@given(headers=header_lists)
def test_adopting_the_raw_first_id_keeps_and_makes_what_the_plain_reading_did(
    headers: RawHeaders,
) -> None:
    """The id kept (or a fresh UUID4 made), the state, the context and the header value: the
    same through the front layer's reading (``adopt_raw_request_id`` on the pass's first
    value) as through ``adopt_request_id`` and ``accept_request_id``."""
    expected = plain_adopted_id(headers)
    single, _ = read_single_fields(headers)
    for adopt in (
        lambda scope: adopt_raw_request_id(scope, single.get(REQUEST_ID_HEADER)),
        adopt_request_id,
    ):
        scope: dict[str, Any] = {"headers": headers}
        raw, token = adopt(scope)
        try:
            made = scope["state"]["request_id"]
            assert request_id_var.get() == made
            assert raw == made.encode("ascii")
            if expected is None:
                assert uuid.UUID(made).version == 4
                assert str(uuid.UUID(made)) == made
            else:
                assert made == expected == accept_request_id(expected)
        finally:
            request_id_var.reset(token)


def test_fresh_uuids_are_uuid4_text_of_the_random_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fresh_uuid4`` (and ``new_message_id``, the same function) is ``uuid4_text`` of 16
    random bytes: the ``uuid`` module's text of the same bytes, edge bytes included."""
    assert new_message_id is fresh_uuid4
    cases = [bytes(16), b"\xff" * 16, bytes(range(16))]
    cases += [bytes(6) + bytes([six]) + b"\x00" + bytes([six]) + bytes(7) for six in range(256)]
    cases += [os.urandom(16) for _ in range(500)]
    for raw in cases:
        monkeypatch.setattr(request_id_module.os, "urandom", lambda size, raw=raw: raw)
        assert fresh_uuid4() == uuid4_text(raw) == str(uuid.UUID(bytes=raw, version=4))


# ------------------------------------------------------------------ the purpose headers

purpose_values = st.one_of(
    st.sampled_from([OFFICIAL.encode(), ISSUE.encode(), b"", b"VN", b"\xc3\xa9", b"VN00109000000"]),
    st.binary(max_size=30),
)
purpose_lists = st.lists(
    st.tuples(st.sampled_from([b"x-user-id", b"x-issue", b"host", b"accept"]), purpose_values),
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(
    headers=purpose_lists,
    citizen_id=st.sampled_from([CITIZEN_ID, "001085000124", "00108500012", "", "x" * 12]),
)
def test_the_purpose_read_where_the_pass_left_it_gives_the_plain_inputs(
    headers: RawHeaders, citizen_id: str
) -> None:
    """Given the pass's single fields (left only when none repeats), the lookup's inputs are
    those read from the headers themselves; without them, the headers are read."""
    headers = [(b"x-user-id", OFFICIAL.encode()), (b"x-issue", ISSUE.encode()), *headers]
    plain = citizen_lookup_inputs(citizen_id, headers)
    single, repeated = read_single_fields(headers)
    if repeated is None:
        assert citizen_lookup_inputs(citizen_id, headers, single) == plain
    purpose = single_headers(headers, b"x-user-id", b"x-issue")
    if plain is not None:
        assert purpose == (plain["user_id"], plain["issue"])


def test_a_valid_lookup_reads_the_same_inputs_both_ways() -> None:
    """The usual request: the inputs, whichever way they are read."""
    headers = [(b"host", b"a"), (b"x-user-id", OFFICIAL.encode()), (b"x-issue", ISSUE.encode())]
    expected = {"citizen_id": CITIZEN_ID, "user_id": OFFICIAL, "issue": ISSUE}
    assert citizen_lookup_inputs(CITIZEN_ID, headers) == expected
    assert citizen_lookup_inputs(CITIZEN_ID, headers, read_single_fields(headers)[0]) == expected


async def test_the_direct_route_reads_the_left_fields_only_when_they_are_the_scopes() -> None:
    """A scope whose left fields name other headers (or none) is read from its own headers."""
    from fastapi.routing import APIRoute

    from adapter_api.routes.direct import DirectCitizenLookup

    passed: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope)

    route = APIRoute("/v1/citizens/{citizen_id}", lambda: None, methods=["GET"])
    direct = DirectCitizenLookup(app, container=object(), route=route)  # type: ignore[arg-type]
    headers: RawHeaders = [(b"x-user-id", b"not an official"), (b"x-issue", ISSUE.encode())]
    # left fields of other (valid) headers: ignored, the scope's own (invalid) ones are read
    other: RawHeaders = [(b"x-user-id", OFFICIAL.encode()), (b"x-issue", ISSUE.encode())]
    scope = {
        "type": "http",
        "method": "GET",
        "path": f"/v1/citizens/{CITIZEN_ID}",
        "headers": headers,
        SINGLE_FIELDS_KEY: (other, read_single_fields(other)[0]),
    }
    await direct(scope, None, None)  # type: ignore[arg-type]
    assert passed == [scope]  # passed on to FastAPI, which refuses the official


# ------------------------------------------------------------------ rate limits


@settings(max_examples=300, deadline=None)
@given(
    now=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    window=st.sampled_from([1, 7, 60, 3600, 86400]),
    offset=st.sampled_from([0, -25200, 3600]),
)
def test_the_memory_counter_counts_in_window_bounds_window(
    now: float, window: int, offset: int
) -> None:
    """The window written out in ``hit`` is ``window_bounds``'s; the count a ``Count``."""
    counter = MemoryRateCounter(clock=lambda: now)
    start, end = window_bounds(now, window, offset)
    first = counter.hit("k", window, offset=offset)
    second = counter.hit("k", window, offset=offset)
    assert type(first) is Count
    assert first == Count(1, end - now)
    assert second.calls == 2
    assert second.reset_after == end - now
    assert list(counter._counts) == [("k", start)]


@pytest.mark.parametrize(
    ("own", "default", "expected"),
    [
        ({}, RateLimit(600, 60), RateLimit(600, 60)),
        ({"citizens.read": RateLimit(5, 10)}, RateLimit(600, 60), RateLimit(5, 10)),
        ({"*": RateLimit(7, 3600)}, RateLimit(600, 60), RateLimit(7, 3600)),
        ({"citizens.verify": RateLimit(7, 3600)}, RateLimit(600, 60), RateLimit(600, 60)),
    ],
)
def test_the_rate_limit_fields_are_the_plain_texts_of_the_limit_that_applies(
    own: dict[str, RateLimit], default: RateLimit, expected: RateLimit, dev_keys: Any
) -> None:
    """``limit_of``'s limit, and the fields as the f-strings gave them, encoded."""
    from security.keys import load_party

    party = load_party(dev_keys, "province-app")
    client = make_client(
        "province-app",
        Role.PROVINCE,
        certificate=party.certificate,
        rate_limits={name: f"{limit.calls}/{limit.seconds}" for name, limit in own.items()},
    )
    now = 1_779_999_980.5
    limiter = RateLimiter(
        MemoryRateCounter(clock=lambda: now), default=default, verify_budget=3, citizen_key=b"k"
    )
    operation = Operation.CITIZENS_READ
    assert limiter.limit_of(client, operation) == expected
    for calls in range(1, min(expected.calls, 3) + 1):
        fields = limiter.check(client, operation)
        reset = max(1, math.ceil(window_bounds(now, expected.seconds)[1] - now))
        name = operation.value
        assert fields == [
            (b"ratelimit-policy", f'"{name}";q={expected.calls};w={expected.seconds}'.encode()),
            (b"ratelimit", f'"{name}";r={expected.calls - calls};t={reset}'.encode()),
        ]


# ------------------------------------------------------------------ admission


@pytest.mark.parametrize(
    "state",
    [None, {}, {"client_id": None}, {"client_id": ""}, {"client_id": "nobody"}, {"other": 1}],
)
def test_admission_refuses_as_authentication_does(state: Any, dev_keys: Any) -> None:
    """No verified signer, or an unknown one: the same 401 as ``authenticated_client``'s."""
    from security.keys import load_party

    party = load_party(dev_keys, "province-app")
    clients = ClientRegistry(
        [make_client("province-app", Role.PROVINCE, certificate=party.certificate)]
    )
    scope: dict[str, Any] = {} if state is None else {"state": state}
    with pytest.raises(Unauthenticated) as plain:
        authenticated_client(scope, clients)
    with pytest.raises(Unauthenticated) as fast:
        admitted_client(scope, clients, None, Operation.CITIZENS_READ)
    assert _problem(fast.value) == _problem(plain.value)
    admitted = admitted_client(
        {"state": {"client_id": "province-app"}}, clients, None, Operation.CITIZENS_READ
    )
    assert admitted is authenticated_client({"state": {"client_id": "province-app"}}, clients)


def _problem(error: ApiError) -> tuple[Any, ...]:
    return (type(error), error.status, error.code, error.detail, error.headers, error.extra)
