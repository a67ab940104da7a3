"""Times: aware datetimes inside, the portal's ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh on the wire.

Vietnam has kept UTC+07:00 all year since mid-1975 (the south used UTC+08:00 before), so a portal
time of 1976 or later names exactly one instant. Stores that drop offsets (SQLite) keep UTC:
use ``to_utc``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from schemas.errors import InvalidWireTime, NaiveDatetime

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PORTAL_TIME_FORMAT = "%Y%m%d%H%M%S"
_PORTAL_TIME = re.compile(r"[0-9]{14}")


def utc_now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def ensure_aware(dt: datetime, *, field: str = "datetime") -> datetime:
    """``dt`` itself when it carries a time zone; ``NaiveDatetime`` naming ``field`` otherwise."""
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise NaiveDatetime(f"{field} must be timezone-aware (got a naive datetime)", field=field)
    return dt


def to_utc(dt: datetime, *, field: str = "datetime") -> datetime:
    """The same instant in UTC (naive input refused)."""
    return ensure_aware(dt, field=field).astimezone(UTC)


def to_vn_time(dt: datetime, *, field: str = "datetime") -> datetime:
    """The same instant in Asia/Ho_Chi_Minh (naive input refused)."""
    return ensure_aware(dt, field=field).astimezone(VN_TZ)


def to_portal_time(dt: datetime, *, field: str = "datetime") -> str:
    """``yyyyMMddHHmmss`` in Vietnam time; sub-second precision is dropped."""
    return to_vn_time(dt, field=field).strftime(PORTAL_TIME_FORMAT)


def from_portal_time(s: str, *, field: str = "time") -> datetime:
    """The aware instant (in ``VN_TZ``) that a portal ``yyyyMMddHHmmss`` string names."""
    if not isinstance(s, str) or not _PORTAL_TIME.fullmatch(s):
        raise InvalidWireTime(f"{field} must be 14 digits yyyyMMddHHmmss", field=field)
    try:
        naive = datetime.strptime(s, PORTAL_TIME_FORMAT)
    except ValueError as exc:
        raise InvalidWireTime(f"{field} is not a real date and time", field=field) from exc
    return naive.replace(tzinfo=VN_TZ)
