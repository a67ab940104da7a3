"""RFC 9530 ``Content-Digest``: the value the signer writes (sha-256) and the check the verifier
makes (sha-256 or sha-512, compared in constant time). The usual one-member sha-256 header is
read with a regular expression; anything else goes through the RFC 8941 dictionary parser.
Also holds ``_b64``, the base64 writer the signature headers share.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re

from security.errors import DigestMismatch, UnsupportedAlgorithm
from security.structured_fields import Item, parse_dictionary


def content_digest(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` value of ``body`` (``sha-256=:…:``)."""
    return f"sha-256=:{_b64(hashlib.sha256(body).digest())}:"


_FAST_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/]{43}=):")


def check_content_digest(value: str | None, body: bytes) -> None:
    """Raise :class:`DigestMismatch` unless ``value`` holds a matching sha-256/sha-512 digest."""
    if not value:
        raise DigestMismatch("the message has no Content-Digest", reason="missing_digest")
    fast = _FAST_DIGEST.fullmatch(value)
    if fast is not None:
        expected = _b64(hashlib.sha256(body).digest())
        if not hmac.compare_digest(fast.group(1), expected):
            raise DigestMismatch("the body does not match its Content-Digest")
        return
    try:
        members = parse_dictionary(value)
    except ValueError as exc:
        raise DigestMismatch("the Content-Digest is malformed", reason="malformed_digest") from exc
    checked = False
    for name, function in (("sha-256", hashlib.sha256), ("sha-512", hashlib.sha512)):
        member = members.get(name)
        if member is None:
            continue
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise DigestMismatch("the Content-Digest is malformed", reason="malformed_digest")
        if not hmac.compare_digest(member.value, function(body).digest()):
            raise DigestMismatch("the body does not match its Content-Digest")
        checked = True
    if not checked:
        raise UnsupportedAlgorithm("the Content-Digest uses no supported algorithm")


def _b64(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")
