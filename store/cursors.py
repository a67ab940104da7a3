"""The one cursor codec of the store's paged reads: an opaque token naming a position.

A cursor is the URL-safe base64 text, unpadded, of a prefix naming the list and a position
(``feed1:42`` → ``ZmVlZDE6NDI``). The prefix keeps one list's cursor from being taken for
another's; decoding anything this codec did not encode raises ``InvalidCursor``. Positions are
non-negative 64-bit integers (at most 19 digits), so a forged cursor never reaches the database
as an out-of-range number.

The three lists and their prefixes (their wire format is what clients hold, so it never changes):
``FEED_CURSOR`` (the ministries' dossier feed), ``CHANGE_CURSOR`` (the watched records' change
feed) and ``ACCESS_LOG_CURSOR`` (a citizen's access log, newest first).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from store.errors import InvalidCursor

#: the most digits a position may have (a signed 64-bit integer's)
MAX_DIGITS = 19


@dataclass(frozen=True, slots=True)
class CursorCodec:
    """Cursors of one list: ``prefix`` tells them apart, ``name`` is said in the error."""

    prefix: str
    name: str

    def encode(self, position: int) -> str:
        """The opaque cursor naming ``position`` (a non-negative integer)."""
        if position < 0:
            raise ValueError("a cursor's position is never negative")
        raw = f"{self.prefix}{position}".encode("ascii")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def decode(self, cursor: str) -> int:
        """The position ``cursor`` names; ``InvalidCursor`` when this codec did not issue it."""
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        except (binascii.Error, UnicodeError, ValueError) as exc:
            raise InvalidCursor(f"the {self.name} cursor was not issued here") from exc
        number = text[len(self.prefix) :]
        if (
            not text.startswith(self.prefix)
            or not number.isascii()
            or not number.isdigit()
            or len(number) > MAX_DIGITS
        ):
            raise InvalidCursor(f"the {self.name} cursor was not issued here")
        return int(number)


FEED_CURSOR = CursorCodec("feed1:", "feed")
CHANGE_CURSOR = CursorCodec("changes1:", "change feed")
ACCESS_LOG_CURSOR = CursorCodec("al:", "access-log")

__all__ = ["ACCESS_LOG_CURSOR", "CHANGE_CURSOR", "FEED_CURSOR", "MAX_DIGITS", "CursorCodec"]
