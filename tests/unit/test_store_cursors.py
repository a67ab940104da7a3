"""The store's one cursor codec: wire format kept, round trip, foreign cursors refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.cursors import ACCESS_LOG_CURSOR, CHANGE_CURSOR, FEED_CURSOR, CursorCodec
from store.errors import InvalidCursor

CODECS = [FEED_CURSOR, CHANGE_CURSOR, ACCESS_LOG_CURSOR]


@pytest.mark.parametrize(
    ("codec", "position", "wire"),
    [
        (FEED_CURSOR, 42, "ZmVlZDE6NDI"),
        (CHANGE_CURSOR, 7, "Y2hhbmdlczE6Nw"),
        (ACCESS_LOG_CURSOR, 1001, "YWw6MTAwMQ"),
    ],
)
def test_wire_format_is_what_clients_already_hold(
    codec: CursorCodec, position: int, wire: str
) -> None:
    """Each list's cursor is base64url (unpadded) of its prefix and the position, as before."""
    assert codec.encode(position) == wire
    assert codec.decode(wire) == position


@pytest.mark.parametrize("codec", CODECS)
@given(position=st.integers(min_value=0, max_value=2**63 - 1))
def test_every_position_round_trips(codec: CursorCodec, position: int) -> None:
    """Decoding an encoded cursor gives back its position, up to the largest 64-bit one."""
    assert codec.decode(codec.encode(position)) == position


@pytest.mark.parametrize("codec", CODECS)
def test_one_lists_cursor_is_refused_by_another(codec: CursorCodec) -> None:
    """A cursor of another list (another prefix) is ``InvalidCursor``, not another position."""
    for other in CODECS:
        if other is not codec:
            with pytest.raises(InvalidCursor):
                codec.decode(other.encode(5))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-a-cursor",
        "ZmVlZDE6!!",  # feed1: with its number cut off
        "ZmVlZDE6LTE",  # feed1:-1
        "ZmVlZDE6",  # feed1: (no number)
        "ZmVlZDE6MTIzNDU2Nzg5MDEyMzQ1Njc4OTA",  # feed1: and 20 digits
        "ZmVlZDE6wrI",  # feed1: and a superscript two (a digit to str.isdigit)
        "w6k",  # not ASCII
    ],
)
def test_malformed_cursors_are_invalid(bad: str) -> None:
    """Anything the codec did not issue raises ``InvalidCursor`` naming no value."""
    with pytest.raises(InvalidCursor) as caught:
        FEED_CURSOR.decode(bad)
    assert str(caught.value) == "the feed cursor was not issued here"


def test_a_negative_position_is_never_encoded() -> None:
    """Positions are never negative: encoding one is a programming error."""
    with pytest.raises(ValueError, match="negative"):
        FEED_CURSOR.encode(-1)
