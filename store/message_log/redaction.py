"""Credentials out of the message log: each secret value replaced by a keyed tag at write time.

A connector names the credentials an exchange carries (the portal's password and session, the
registry's access token; ``connectors.exchange.Exchange.secrets``). Before a record is hashed,
sealed and encrypted, every occurrence of each value in its wire messages — as raw text, as a
JSON string's escaped form, as a form-encoded value — is replaced by::

    <redacted:NAME:TAG>

``TAG`` is the first 128 bits (32 hex digits) of HMAC-SHA256 under a key derived from the message
log's key (:meth:`RedactionKey.tag`): the same session gives the same tag in the login that opened
it and in every call that used it, so an auditor can link them, while nobody without the log's key
can test a guessed password against it. What is stored, sealed and exported is the redacted
message: the record's digests, ``log verify`` and a bundle's ``sha256sum`` checks cover exactly
it; the RFC 9421 signature still verifies over the signed ``Content-Digest`` of the original body,
which (the secret being gone) can no longer be compared with the stored body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MARKER = b"<redacted:"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TAG_HEX = 32
_DERIVE = b"lienthong-messagelog/redaction/1"


class RedactionKey:
    """Makes the tag that stands for a secret value (HMAC-SHA256 under a derived key)."""

    def __init__(self, log_key: bytes) -> None:
        self._key = hmac.new(log_key, _DERIVE, hashlib.sha256).digest()

    def tag(self, name: str, value: str) -> str:
        """The first 128 bits of HMAC(key, name NUL value), hex."""
        mac = hmac.new(self._key, name.encode() + b"\0" + value.encode(), hashlib.sha256)
        return mac.hexdigest()[:_TAG_HEX]

    def placeholder(self, name: str, value: str) -> bytes:
        """``<redacted:NAME:TAG>``."""
        if not _NAME.match(name):
            raise ValueError("a secret's name must be a short lower-case word")
        return f"<redacted:{name}:{self.tag(name, value)}>".encode()


def _forms(value: str) -> list[bytes]:
    """The ways ``value`` can appear in a message, longest first."""
    forms = {
        value.encode(),
        json.dumps(value)[1:-1].encode(),
        json.dumps(value, ensure_ascii=False)[1:-1].encode(),
        quote_plus(value).encode(),
        quote(value, safe="").encode(),
    }
    return sorted((form for form in forms if form), key=len, reverse=True)


def redact(data: bytes, secrets: Iterable[tuple[str, str]], key: RedactionKey) -> bytes:
    """``data`` with every form of every secret value replaced by its placeholder."""
    for name, value in secrets:
        if not value:
            continue
        placeholder = key.placeholder(name, value)
        for form in _forms(value):
            data = data.replace(form, placeholder)
    return data


def is_redacted(data: bytes) -> bool:
    """Whether ``data`` holds a placeholder (its body cannot match the signed digest)."""
    return MARKER in data


__all__ = ["MARKER", "RedactionKey", "is_redacted", "redact"]
