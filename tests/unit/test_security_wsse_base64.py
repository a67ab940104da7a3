"""``token.decode_base64`` answers as the plain reading does: whitespace removed, then strict.

Its shortcut decodes text without whitespace as it stands; on every text below (whitespace of
each kind, padding faults, characters outside the alphabet, non-ASCII, empty, None) it must
give the bytes the plain reading gives, or refuse where it refuses.
"""

from __future__ import annotations

import binascii

import pytest

from security.errors import InvalidSignature
from security.wsse.token import decode_base64

TEXTS = [
    None,
    "",
    "QUJD",
    "QUJDRA==",
    "QUJDRA=",
    "QUJDRA",
    "QUJ\nDRA==",
    " QUJDRA== ",
    "QU\r\nJD\tRA==",
    "QUJDRA==\n",
    "QUJDRA==QUJD",
    "=QUJD",
    "QUJ*",
    "QUJD\u00a0",
    "QUJDé",
    "QU JD RA ==",
    "\n",
    "  ",
    "A" * 87 + "=",
    "A" * 86 + "==",
]


def _plain(text: str | None) -> object:
    try:
        return binascii.a2b_base64("".join((text or "").split()), strict_mode=True)
    except (binascii.Error, ValueError):
        return InvalidSignature


@pytest.mark.parametrize("text", TEXTS)
def test_decode_base64_agrees_with_the_plain_reading(text: str | None) -> None:
    try:
        found: object = decode_base64(text, "value")
    except InvalidSignature:
        found = InvalidSignature
    assert found == _plain(text)
