"""The message log's encoders on its write path: each gives exactly what the plain form gives.

``format_time`` writes a plain ``datetime`` from its UTC fields and leaves anything else to
``format_time_plainly``; ``SealedDocument`` lays a record's sealed fields out once for every
place it may get; the header lines of a stored wire message are checked and joined in C when
they are a ``dict`` of plain strings (``_header_lines_plainly`` otherwise). These tests run the
fast form and the plain one (the definition, or the code it replaced) over tables of variants
and generated ones, hostile ones included, and require the same output or the same refusal.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.message_log import chain
from store.message_log.chain import (
    GENESIS,
    PLACE_FIELDS,
    SealedDocument,
    SealedFields,
    format_time,
    format_time_plainly,
)
from store.message_log.wire import (
    _header_lines,
    _header_lines_plainly,
    encode_request,
    encode_response,
)
from tests.unit.test_message_log import SEALED

#: generated inputs are small, but a machine shared with other work can make them slow to draw
GENERATED = settings(suppress_health_check=[HealthCheck.too_slow])
HANOI = dt.timezone(dt.timedelta(hours=7))
ODD_OFFSETS = [
    dt.timezone(dt.timedelta(hours=-12)),
    dt.timezone(dt.timedelta(hours=14)),
    dt.timezone(dt.timedelta(hours=5, minutes=45)),
    dt.timezone(dt.timedelta(seconds=-1, microseconds=1)),
    dt.timezone(dt.timedelta(0), "not the UTC object"),
    zoneinfo.ZoneInfo("UTC"),
    zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh"),
    zoneinfo.ZoneInfo("America/New_York"),
]


class _Moment(dt.datetime):
    """A datetime subclass whose ``isoformat`` lies: only the plain path may handle it."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "not a time"


class _NoOffset(dt.tzinfo):
    """A zone that gives no offset: ``astimezone`` takes such a time for local time."""

    def utcoffset(self, moment: dt.datetime | None) -> None:
        return None

    def dst(self, moment: dt.datetime | None) -> None:
        return None


def _outcome(function: Callable[[], Any]) -> Any:
    """What a call gives: its value, or the class of what it raised."""
    try:
        return function()
    except Exception as exc:
        return ("raised", type(exc))


TIMES = [
    dt.datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 26, 8, 0, 0, tzinfo=dt.UTC),  # microsecond 0
    dt.datetime(2026, 11, 26, 8, 0, 0),  # naive: UTC
    dt.datetime(2026, 11, 26, 15, 0, 0, 5, tzinfo=HANOI),
    dt.datetime(1000, 1, 1, 0, 0, 0, tzinfo=dt.UTC),
    dt.datetime(1000, 1, 1, 0, 30, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),  # year 999
    dt.datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(1, 1, 1, 0, 0, 0),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    dt.datetime(2026, 3, 8, 2, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    dt.datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    dt.datetime(2026, 11, 26, 8, 0, 0, 1, fold=1),
    dt.datetime(2026, 11, 26, 8, 0, 0, 1, tzinfo=_NoOffset()),
    _Moment(2026, 11, 26, 8, 0, 0, 7, tzinfo=dt.UTC),
    _Moment(2026, 11, 26, 8, 0, 0, 7),
    *(dt.datetime(2026, 6, 30, 23, 59, 59, 500000, tzinfo=zone) for zone in ODD_OFFSETS),
    *(dt.datetime(1000, 1, 1, 5, 0, 0, tzinfo=zone) for zone in ODD_OFFSETS),
]


@pytest.mark.parametrize("moment", TIMES, ids=repr)
def test_format_time_writes_what_the_plain_form_writes(moment: dt.datetime) -> None:
    """Aware of any zone, naive, the years around 1000, microsecond 0, a fold, a subclass."""
    assert _outcome(lambda: format_time(moment)) == _outcome(lambda: format_time_plainly(moment))


@GENERATED
@given(
    moment=st.datetimes(
        timezones=st.one_of(
            st.none(), st.just(dt.UTC), st.sampled_from(ODD_OFFSETS), st.timezones()
        )
    )
)
def test_format_time_agrees_on_generated_times(moment: dt.datetime) -> None:
    """Any datetime hypothesis makes, in any zone, or none."""
    assert _outcome(lambda: format_time(moment)) == _outcome(lambda: format_time_plainly(moment))


def test_format_time_is_the_chains_text() -> None:
    """The plain form's text, for the record: UTC, microseconds, ``Z``; the year unpadded
    before 1000 (``strftime``), as records were first sealed."""
    assert format_time(TIMES[3]) == "2026-11-26T08:00:00.000005Z"
    assert format_time(TIMES[1]) == "2026-11-26T08:00:00.000000Z"
    assert format_time(TIMES[5]) == format_time_plainly(TIMES[5]) == "999-12-31T23:30:00.000000Z"


def _reference(sealed: SealedFields) -> bytes:
    """The encoding as the chain defines it: compact JSON with sorted keys, UTF-8."""
    document = sealed.as_dict()
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _unplaced(sealed: SealedFields) -> Mapping[str, object]:
    document = sealed.as_dict()
    return {name: value for name, value in document.items() if name not in PLACE_FIELDS}


HOSTILE_TEXT = [
    "",
    '"',
    "\\",
    'a"b\\c',
    "\x00\x01\x1f\x7f",
    "\r\n\t",
    "Nguyễn Thị An",
    "\u2028\u2029",
    "😀",
    '","seq":1,"x":"',
    '"prev_digest":0,',
    "</script>",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT, ids=repr)
@pytest.mark.parametrize("name", [f.name for f in fields(SealedFields)])
def test_a_sealed_document_encodes_as_the_chain_defines(name: str, text: str) -> None:
    """Any field holding hostile text (quotes, escapes, controls, non-ASCII, what looks like a
    key): the document sealed at the record's place is the reference encoding, byte for byte."""
    value: object = text
    if name in ("seq", "attempt", "status"):
        value = len(text) * 1_000_003 - 7
    sealed = replace(SEALED, **{name: value})
    document = SealedDocument(_unplaced(sealed))
    assert document.canonical(sealed.seq, sealed.prev_digest) == _reference(sealed)
    assert sealed.canonical() == _reference(sealed)
    assert document.digest(sealed.seq, sealed.prev_digest) == sealed.digest()


@GENERATED
@given(
    text=st.dictionaries(
        st.sampled_from([f.name for f in fields(SealedFields)]),
        st.one_of(st.text(max_size=12), st.none(), st.integers(), st.booleans(), st.floats()),
    )
)
def test_a_sealed_document_agrees_on_generated_fields(text: dict[str, object]) -> None:
    """Generated values of the JSON kinds, in any field: the reference encoding, or the same
    refusal (a lone surrogate cannot be UTF-8)."""
    sealed = replace(SEALED, **text)
    document = SealedDocument(_unplaced(sealed))
    assert _outcome(lambda: document.canonical(sealed.seq, sealed.prev_digest)) == _outcome(
        lambda: _reference(sealed)
    )


def test_one_document_seals_at_every_place() -> None:
    """The document is laid out once: sealing it at one place leaves it whole for the next
    (a batch written twice is chained twice)."""
    document = SealedDocument(_unplaced(SEALED))
    for seq in (1, SEALED.seq, 10**12):
        for prev in ("0" * 64, "f" * 64):
            placed = replace(SEALED, seq=seq, prev_digest=prev)
            assert document.canonical(seq, prev) == _reference(placed)


def _plain_header_lines(headers: Mapping[str, str]) -> bytes:
    """The header lines as they were written before (checked with ``any`` per header)."""
    lines = []
    for name, value in headers.items():
        if any(c in name or c in value for c in "\r\n") or ":" in name:
            raise ValueError("a header name or value cannot be stored on one line")
        lines.append(f"{name}: {value}".encode() + b"\r\n")
    return b"".join(lines)


def _plain_request(method: str, url: str, headers: Mapping[str, str], body: bytes) -> bytes:
    return (
        f"{method} {url} HTTP/1.1".encode()
        + b"\r\n"
        + _plain_header_lines(headers)
        + b"\r\n"
        + body
    )


HEADERS: list[dict[str, Any]] = [
    {},
    {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:x#GetCitizen"'},
    {"x": ""},
    {"": ""},
    {"x": "a:b: c"},  # a colon in a value is kept
    {"x:y": "v"},
    {"x": "a\r\nb: c"},
    {"x": "a\rb"},
    {"x": "a\nb"},
    {"x\n": "v"},
    {"x\r": "v"},
    {"tên": "Nguyễn Thị An"},
    {"x": "\ud800"},  # a lone surrogate is no UTF-8
    {"x": "\ud800", "y": "a\r\nb"},
    {"y": "a\r\nb", "x": "\ud800"},
    {"x": b"bytes"},
    {"x": None},
    {b"x": "v"},
    {"x": 1},
]


@pytest.mark.parametrize("headers", HEADERS, ids=repr)
def test_header_lines_are_what_they_were(headers: dict[str, Any]) -> None:
    """The stored request and response, or the refusal, as before; hostile headers included."""
    body = b"<x/>\r\n\r\n"
    assert _outcome(lambda: encode_request("POST", "http://h/p", headers, body)) == _outcome(
        lambda: _plain_request("POST", "http://h/p", headers, body)
    )
    expected = _outcome(lambda: b"HTTP/1.1 200\r\n" + _plain_header_lines(headers) + b"\r\n" + body)
    assert _outcome(lambda: encode_response(200, headers, body)) == expected


@GENERATED
@given(headers=st.dictionaries(st.text(), st.text()))
def test_header_lines_agree_on_generated_headers(headers: dict[str, str]) -> None:
    """Generated names and values (colons, line breaks, surrogates among them)."""
    assert _outcome(lambda: encode_request("GET", "http://h/", headers, b"")) == _outcome(
        lambda: _plain_request("GET", "http://h/", headers, b"")
    )


class _Formatted(str):
    """A ``str`` that formats (f-strings) and tests membership otherwise than its characters:
    only the plain way may handle it."""

    def __format__(self, spec: str) -> str:
        return "formatted\r\nx: y"

    def __str__(self) -> str:
        return "str"

    def __contains__(self, part: object) -> bool:
        return False


class _Plain(str):
    """A ``str`` subclass that changes nothing."""


class _Headers(Mapping[str, str]):
    """A mapping that is not a ``dict`` (``items`` in its own order)."""

    def __init__(self, pairs: dict[str, str]) -> None:
        self._pairs = pairs

    def __getitem__(self, name: str) -> str:
        return self._pairs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)


ODD_HEADERS: list[Any] = [
    *HEADERS,
    {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8"},
    {"x": "\ud800"},  # only a lone surrogate: the quick way cannot encode, the plain one decides
    {"x": "v", "y": "\udfff\ud83d"},
    {"\ud800": "v"},
    {"x": "a\tb\x00\x7f\x1f"},  # controls other than CR and LF are kept
    {"x": "\u2028\u2029\x85\x0b\x0c"},  # line breaks to Unicode, not to HTTP: kept
    {"tên": "Nguyễn Thị An", "x": "😀"},
    {"": "", " ": " "},
    {"x": "a: b\r"},
    {"x\r\n": "v"},
    {"x": "v", "y:": "w"},
    {"x": ":"},
    {_Formatted("x"): "v"},
    {"x": _Formatted("v")},
    {_Plain("x"): _Plain("v")},
    {"x": "v", "y": None},
    {"x": "v", 1: "w"},
    {"x": ["v"]},
    _Headers({"x": "v", "y": "w"}),
    _Headers({"x": "a\r\nb"}),
    _Headers({}),
]


def _assert_the_same_header_lines(headers: Any) -> None:
    """The quick and the plain header lines give the same bytes, or raise the same exception
    (class and message)."""

    def outcome(function: Callable[[], bytes]) -> Any:
        try:
            return function()
        except Exception as exc:
            return ("raised", type(exc), str(exc))

    assert outcome(lambda: _header_lines(headers)) == outcome(
        lambda: _header_lines_plainly(headers)
    )


@pytest.mark.parametrize("headers", ODD_HEADERS, ids=repr)
def test_the_quick_header_lines_are_the_plain_ones(headers: Any) -> None:
    """Plain strings, subclasses that format otherwise, other types, mappings that are not a
    ``dict``, surrogates, controls, colons and line breaks: the same bytes or the same refusal
    (the exception's class and message)."""
    _assert_the_same_header_lines(headers)


#: names and values drawn from characters that matter here, surrogates included
_HEADER_TEXT = st.text(
    alphabet=st.sampled_from(["a", "Z", " ", ":", "\r", "\n", "\t", "é", "😀", "\ud800", "\udc00"]),
    max_size=6,
)


@GENERATED
@given(headers=st.dictionaries(_HEADER_TEXT, _HEADER_TEXT, max_size=6))
def test_the_quick_header_lines_agree_on_generated_headers(headers: dict[str, str]) -> None:
    """Generated names and values of colons, line breaks, tabs, non-ASCII and lone surrogates:
    the same bytes or the same refusal (class and message)."""
    _assert_the_same_header_lines(headers)


@pytest.mark.parametrize("text", HOSTILE_TEXT, ids=repr)
def test_the_encoder_made_once_writes_what_json_encode_writes(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C encoder made once (``chain._C_ENCODER``) and ``JSONEncoder.encode``, the way taken
    without it, seal the same bytes; a refused document (a lone surrogate) leaves it usable."""
    sealed = replace(SEALED, user_id=text, issue=None, status=-7)
    document = SealedDocument(_unplaced(sealed))
    fast = document.canonical(sealed.seq, sealed.prev_digest)
    lone = SealedDocument(_unplaced(replace(SEALED, client="\ud800")))
    assert _outcome(lambda: lone.canonical(1, GENESIS)) == _outcome(
        lambda: _reference(replace(SEALED, client="\ud800"))
    )
    monkeypatch.setattr(chain, "_C_ENCODER", None)
    assert document.canonical(sealed.seq, sealed.prev_digest) == fast == _reference(sealed)
