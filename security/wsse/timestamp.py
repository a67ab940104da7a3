"""Check a wsu:Timestamp: well formed, not too long, not in the future, not expired."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from security.errors import (
    StaleMessage,
)
from security.wsse.names import (
    CREATED,
    EXPIRES,
)
from security.wsse.structure import child_elements


def _parse_time(element: etree._Element, what: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat((element.text or "").strip())
    except ValueError as exc:
        raise StaleMessage(
            f"the Timestamp {what} is not a date-time", reason="malformed_timestamp"
        ) from exc
    if moment.tzinfo is None:
        raise StaleMessage(f"the Timestamp {what} has no time zone", reason="malformed_timestamp")
    return moment


def check_timestamp(
    timestamp: etree._Element,
    when: dt.datetime,
    max_skew: dt.timedelta,
    max_validity: dt.timedelta,
) -> tuple[dt.datetime, dt.datetime]:
    # Two children, Created then Expires (a comment or processing instruction counts in len()
    # and is left out by child_elements, which reads any other case)
    children = list(timestamp) if len(timestamp) == 2 else child_elements(timestamp)[0]
    if len(children) != 2 or children[0].tag != CREATED or children[1].tag != EXPIRES:
        raise StaleMessage(
            "the Timestamp must hold Created and Expires", reason="malformed_timestamp"
        )
    created = _parse_time(children[0], "Created")
    expires = _parse_time(children[1], "Expires")
    if expires <= created:
        raise StaleMessage(
            "the Timestamp expires before it is created", reason="malformed_timestamp"
        )
    if expires - created > max_validity:
        raise StaleMessage(
            "the Timestamp's validity window is too long", reason="timestamp_too_long"
        )
    if created > when + max_skew:
        raise StaleMessage("the Timestamp is created in the future", reason="timestamp_in_future")
    if expires < when - max_skew:
        raise StaleMessage("the Timestamp has expired")
    return created, expires
