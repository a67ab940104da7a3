"""Pure rules of the front door: a dossier as a purpose, and JSON with repeated keys."""

from __future__ import annotations

import datetime as dt

import pytest

from adapter_api.issues import Issue
from adapter_api.request_guard import has_duplicate_key, repeated_header

NOW = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
GRACE = dt.timedelta(days=30)


def test_an_open_dossier_serves_its_persons_only() -> None:
    """Open: the applicant and the listed persons are served, anyone else is not."""
    issue = Issue("TP.HT", frozenset({"001085000123", "001219000321"}), None)
    assert issue.serves("001085000123", now=NOW, grace=GRACE)
    assert issue.serves("001219000321", now=NOW, grace=GRACE)
    assert not issue.serves("001090000456", now=NOW, grace=GRACE)


@pytest.mark.parametrize(("days_ago", "served"), [(0, True), (30, True), (31, False)])
def test_a_closed_dossier_serves_within_its_grace(days_ago: int, served: bool) -> None:
    """Closed: served up to the grace period after closing (inclusive), not after."""
    closed = NOW - dt.timedelta(days=days_ago)
    issue = Issue("TP.HT", frozenset({"001085000123"}), closed)
    assert issue.serves("001085000123", now=NOW, grace=GRACE) is served


@pytest.mark.parametrize(
    ("body", "repeated"),
    [
        (b'{"a": 1, "a": 2}', True),
        (b'{"a": {"b": 1, "b": 1}}', True),
        (b'[{"x": 1}, {"x": 2, "y": {"z": 0, "z": 0}}]', True),
        (b'{"a": 1, "b": {"a": 2}}', False),
        (b'{"a": 1', False),  # not JSON: the route answers that
        (b"", False),
    ],
)
def test_duplicate_keys_are_found_at_any_depth(body: bytes, repeated: bool) -> None:
    """A key repeated within one object, however deep; the same key in two objects is fine."""
    assert has_duplicate_key(body) is repeated


def test_repeated_header_names_the_first_repeat() -> None:
    """Only the watched names count; case is already lower in ASGI."""
    names = frozenset({b"x-issue", b"x-user-id"})
    assert repeated_header([(b"accept", b"a"), (b"accept", b"b")], names) is None
    assert repeated_header(
        [(b"x-issue", b"1"), (b"x-user-id", b"u"), (b"x-issue", b"2")], names
    ) == ("x-issue")
