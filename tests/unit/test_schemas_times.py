"""Times: aware everywhere, ``yyyyMMddHHmmss`` in Vietnam time on the portal's wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.errors import InvalidWireTime, NaiveDatetime
from schemas.times import (
    VN_TZ,
    ensure_aware,
    from_portal_time,
    to_portal_time,
    to_utc,
    to_vn_time,
    utc_now,
)


def test_utc_evening_is_the_next_day_in_vietnam() -> None:
    """17:30 UTC on 26 November is 00:30 on 27 November in Hanoi, and comes back the same."""
    instant = datetime(2026, 11, 26, 17, 30, 0, tzinfo=UTC)
    wire = to_portal_time(instant)
    assert wire == "20261127003000"
    back = from_portal_time(wire)
    assert back == instant
    assert back.tzinfo is VN_TZ
    assert back.date().day == 27


def test_vietnam_midnight_is_the_previous_day_in_utc() -> None:
    """00:00:00 on 1 January in Hanoi is 17:00 on 31 December UTC."""
    back = from_portal_time("20270101000000")
    assert to_utc(back) == datetime(2026, 12, 31, 17, 0, 0, tzinfo=UTC)


@given(
    st.datetimes(
        min_value=datetime(1976, 1, 1),
        max_value=datetime(2099, 12, 30),
        timezones=st.sampled_from(
            [UTC, VN_TZ, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))]
        ),
    )
)
def test_round_trip_keeps_the_instant_to_the_second(dt: datetime) -> None:
    """Any aware time survives to_portal_time/from_portal_time, minus sub-second parts."""
    back = from_portal_time(to_portal_time(dt))
    assert back == dt.replace(microsecond=0)
    assert back.utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize("convert", [to_portal_time, ensure_aware, to_utc, to_vn_time])
def test_naive_datetimes_are_refused(convert: object) -> None:
    """A datetime without a zone is refused with a message saying it must be timezone-aware."""
    with pytest.raises(NaiveDatetime, match="must be timezone-aware"):
        convert(datetime(2026, 11, 26, 8, 0))  # type: ignore[operator]


def test_naive_error_names_the_field() -> None:
    """The caller's field name appears in the error."""
    with pytest.raises(NaiveDatetime, match="received_at") as caught:
        ensure_aware(datetime(2026, 11, 26), field="received_at")
    assert caught.value.field == "received_at"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026112700300", "14 digits"),
        ("202611270030000", "14 digits"),
        ("2026-11-27 00:30", "14 digits"),
        ("2026112700300a", "14 digits"),
        ("２０２６１１２７００３０００", "14 digits"),
        ("", "14 digits"),
        ("20261301000000", "not a real"),
        ("20260229000000", "not a real"),
        ("20261127246000", "not a real"),
        ("20261127006000", "not a real"),
    ],
)
def test_bad_portal_times_are_refused(value: str, reason: str) -> None:
    """Wrong length, separators, non-ASCII digits and impossible dates are refused."""
    with pytest.raises(InvalidWireTime, match=reason):
        from_portal_time(value)


def test_utc_now_is_aware_utc() -> None:
    """utc_now carries a zero offset."""
    now = utc_now()
    assert now.utcoffset() == timedelta(0)
