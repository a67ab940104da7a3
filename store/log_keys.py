"""The secret keys of the message log and the access log, kept in the key folder.

``DIR/adapter/messagelog.key`` encrypts message bodies (AES-256-GCM) and
``DIR/adapter/accesslog.key`` keys the HMAC that indexes the access log by citizen. Each file holds
32 random bytes, is created with mode 0600 when absent and never overwritten: losing it makes the
stored bodies unreadable (the message log's chain still verifies) and the access log unsearchable.
Only a rotation replaces the access-log key, keeping the old one beside it in the key ring
(``store.access_log_keys``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

KEY_BYTES = 32
MESSAGE_LOG_KEY = Path("adapter") / "messagelog.key"
ACCESS_LOG_KEY = Path("adapter") / "accesslog.key"


class LogKeyError(Exception):
    """A log key file exists but cannot be read or does not hold exactly 32 bytes."""


def key_id(key: bytes) -> str:
    """A short public name of a key (first 16 hex digits of its SHA-256), safe to store and show."""
    return hashlib.sha256(b"lienthong log key id\x00" + key).hexdigest()[:16]


def load_key(path: Path | str) -> bytes:
    """Read a 32-byte key file; :class:`LogKeyError` if it is missing, unreadable or malformed."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LogKeyError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
    if len(data) != KEY_BYTES:
        raise LogKeyError(f"key file {path} must hold exactly {KEY_BYTES} bytes")
    return data


def load_or_create_key(path: Path | str) -> bytes:
    """Read the key file at ``path``, creating it (32 random bytes, mode 0600) when absent."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return load_key(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(KEY_BYTES))
    return load_key(path)


def message_log_key(keys_dir: Path | str, *, create: bool = True) -> bytes:
    """The message log's body key from the key folder (created when absent and ``create``)."""
    path = Path(keys_dir) / MESSAGE_LOG_KEY
    return load_or_create_key(path) if create else load_key(path)


def access_log_key(keys_dir: Path | str, *, create: bool = True) -> bytes:
    """The access log's HMAC key from the key folder (created when absent and ``create``)."""
    path = Path(keys_dir) / ACCESS_LOG_KEY
    return load_or_create_key(path) if create else load_key(path)


__all__ = [
    "ACCESS_LOG_KEY",
    "KEY_BYTES",
    "MESSAGE_LOG_KEY",
    "LogKeyError",
    "access_log_key",
    "key_id",
    "load_key",
    "load_or_create_key",
    "message_log_key",
]
