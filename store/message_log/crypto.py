"""Message bodies at rest: AES-256-GCM, bound to their record by the associated data.

A stored body is ``0x01 || nonce (12 bytes) || ciphertext+tag``. The associated data names the
record's sequence number, its message id and which body it is (``request`` / ``response``), so a
body copied into another record, or a request swapped with its response, fails to decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from store.log_keys import KEY_BYTES, key_id
from store.message_log.errors import BodyDecryptionError
from store.message_log.redaction import RedactionKey

BodyKind = Literal["request", "response"]

_VERSION = b"\x01"
_PURGE_DERIVE = b"lienthong-messagelog/purge/1"
_NONCE_BYTES = 12


def associated_data(seq: int, message_id: str, kind: BodyKind) -> bytes:
    """What binds a body to its place: ``lienthong-messagelog/1|<seq>|<message id>|<kind>``."""
    return f"lienthong-messagelog/1|{seq}|{message_id}|{kind}".encode()


class BodyCipher:
    """Encrypts and decrypts message bodies with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the message log key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)
        #: tags the credentials redacted from what is stored (``redaction``)
        self.redaction = RedactionKey(key)
        self._purge_key = hmac.new(key, _PURGE_DERIVE, hashlib.sha256).digest()

    def purge_mac(self, seq: int, digest: str, purged_at: str, retention_days: int) -> str:
        """The HMAC-SHA256 (hex) that authenticates a purge marker: the record's place and
        digest, the purge's time (the chain's text form) and the retention period it applied."""
        text = f"lienthong-messagelog-purge/1|{seq}|{digest}|{purged_at}|{retention_days}"
        return hmac.new(self._purge_key, text.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, body: bytes, *, seq: int, message_id: str, kind: BodyKind) -> bytes:
        """The stored form of ``body`` for record ``seq``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, body, associated_data(seq, message_id, kind))
        return _VERSION + nonce + sealed

    def decrypt(self, stored: bytes, *, seq: int, message_id: str, kind: BodyKind) -> bytes:
        """The body of record ``seq``; :class:`BodyDecryptionError` if it was altered or moved."""
        if len(stored) < 1 + _NONCE_BYTES + 16 or stored[:1] != _VERSION:
            raise BodyDecryptionError(f"{kind} body of record {seq} is not in the stored format")
        nonce, sealed = stored[1 : 1 + _NONCE_BYTES], stored[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, associated_data(seq, message_id, kind))
        except InvalidTag as exc:
            raise BodyDecryptionError(
                f"{kind} body of record {seq} does not decrypt (altered, moved or another key)"
            ) from exc


__all__ = ["BodyCipher", "BodyKind", "associated_data"]
