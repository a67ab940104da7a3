"""Vietnamese mobile numbers: normalised to ``84`` + 9 digits, and checked.

Accepted on the way in: ``0912345678``, ``+84 912 345 678``, ``84-912-345-678``, ``(091) 234 5678``
(spaces, dots, dashes and brackets are dropped). The national mobile prefixes since the 2018
renumbering start with 3, 5, 7, 8 or 9 after the country code; anything else is refused. Errors
say what is wrong, never the number.
"""

from __future__ import annotations

import re

from push.errors import InvalidPhone

_SEPARATORS = re.compile(r"[\s.\-()]")
_MOBILE = re.compile(r"84[35789][0-9]{8}")


def normalise_phone(raw: str) -> str:
    """``raw`` as ``84xxxxxxxxx``; ``InvalidPhone`` when it is not a Vietnamese mobile number."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhone("empty")
    digits = _SEPARATORS.sub("", raw.strip())
    if digits.startswith("+"):
        digits = digits[1:]
        if not digits.startswith("84"):
            raise InvalidPhone("not a Vietnamese number")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidPhone("not digits")
    if digits.startswith("0") and len(digits) == 10:
        digits = "84" + digits[1:]
    elif digits.startswith("840") and len(digits) == 12:
        digits = "84" + digits[3:]
    if len(digits) != 11 or not digits.startswith("84"):
        raise InvalidPhone("wrong length")
    if not _MOBILE.fullmatch(digits):
        raise InvalidPhone("not a mobile prefix")
    return digits


__all__ = ["normalise_phone"]
