"""Times: aware datetimes inside, the portal's ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh on the wire.

Vietnam has kept UTC+07:00 all year since mid-1975 (the south used UTC+08:00 before), so a portal
time of 1976 or later names exactly one instant. Stores that drop offsets (SQLite) keep UTC:
use ``to_utc``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import partial
from zoneinfo import ZoneInfo

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

from schemas.errors import InvalidWireTime, NaiveDatetime

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PORTAL_TIME_FORMAT = "%Y%m%d%H%M%S"
_PORTAL_TIME = re.compile(r"[0-9]{14}")


#: the instants a dossier's times may name (receipt, due date, update, event), Vietnam time:
#: from 2000-01-01 00:00 up to, not including, 2100-01-01 00:00
DOSSIER_TIME_MIN = datetime(2000, 1, 1, tzinfo=VN_TZ)
DOSSIER_TIME_END = datetime(2100, 1, 1, tzinfo=VN_TZ)
#: the earliest birth date accepted (the latest is today, Vietnam time)
BIRTH_DATE_MIN = date(1900, 1, 1)


def in_dossier_window(value: datetime, info: ValidationInfo) -> datetime:
    """``value`` when it lies in 2000-01-01 .. 2099-12-31 (Vietnam time); refused otherwise.

    Refused with type ``date_out_of_range``. An instant near year 1 or 9999 whose UTC form
    does not exist is refused the same way rather than overflowing. Not applied to records
    read back from the store (``schemas.text.STORED``).
    """
    context = info.context
    if isinstance(context, dict) and context.get("stored_record") is True:
        return value
    try:
        inside = DOSSIER_TIME_MIN <= value < DOSSIER_TIME_END
    except OverflowError:
        inside = False
    if not inside:
        raise PydanticCustomError(
            "date_out_of_range", "must lie between 2000-01-01 and 2099-12-31 (Vietnam time)"
        )
    return value


def plausible_birth_date(value: date) -> date:
    """``value`` when it is from 1900-01-01 up to today (Vietnam time); refused otherwise."""
    if not BIRTH_DATE_MIN <= value <= datetime.now(VN_TZ).date():
        raise PydanticCustomError(
            "date_out_of_range", "must be a birth date from 1900-01-01 up to today"
        )
    return value


#: ``utc_now()``: the current instant, aware, in UTC (``datetime.now(UTC)``; a ``partial``
#: rather than a ``def``: called a few times per request, it then runs no Python frame)
utc_now = partial(datetime.now, UTC)


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
