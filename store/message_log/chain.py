"""The hash chain of the message log: what each record seals and how it is encoded.

Every record carries ``prev_digest`` (the digest of the record before it, :data:`GENESIS` for the
first) and ``digest`` = SHA-256 over the canonical JSON encoding of its :class:`SealedFields`.
The wire messages themselves are not in the encoding, only their SHA-256 (and that of their
bodies): purging them after the retention period leaves the chain verifiable.

The canonical encoding is JSON with sorted keys, no whitespace (``separators=(",", ":")``), UTF-8
without escaping, times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, and ``"v": 1``. Written out as
``record.json`` in an evidence bundle, ``sha256sum record.json`` gives the record's digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, fields, replace

FORMAT_VERSION = 1
GENESIS = "0" * 64


def format_time(value: dt.datetime) -> str:
    """A time in the chain's one textual form: UTC, microseconds, ``Z``; naive means UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    utc = value.astimezone(dt.UTC).replace(tzinfo=None)
    if utc.year < 1000:  # isoformat pads the year, strftime's %Y does not
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.isoformat(timespec="microseconds") + "Z"


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data``, lowercase hex."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class SealedFields:
    """Everything a record's digest covers, in the chain's textual form."""

    seq: int
    prev_digest: str
    message_id: str
    attempt: int
    protocol: str
    upstream: str
    operation: str
    client: str
    sender: str
    receiver: str
    user_id: str | None
    issue: str | None
    method: str
    endpoint: str
    status: int | None
    outcome: str
    started_at: str
    finished_at: str
    request_sha256: str
    request_body_sha256: str
    request_signer: str | None
    response_sha256: str | None
    response_body_sha256: str | None
    response_signer: str | None

    def as_dict(self) -> dict[str, object]:
        """The document that is encoded (the fields and the format version ``v``)."""
        document: dict[str, object] = {"v": FORMAT_VERSION}
        for name in _FIELD_NAMES:
            document[name] = getattr(self, name)
        return document

    def canonical(self) -> bytes:
        """The exact bytes the digest is taken over."""
        # built in sorted key order, so the encoder need not sort
        document = {
            name: FORMAT_VERSION if name == "v" else getattr(self, name) for name in _SORTED_KEYS
        }
        return _ENCODER.encode(document).encode("utf-8")

    def digest(self) -> str:
        """SHA-256 of :meth:`canonical`, lowercase hex."""
        return sha256_hex(self.canonical())

    def at(self, seq: int) -> SealedFields:
        """The same fields sealed at another position (tells a moved record from an altered one)."""
        return replace(self, seq=seq)


_FIELD_NAMES = tuple(field.name for field in fields(SealedFields))
_SORTED_KEYS = tuple(sorted((*_FIELD_NAMES, "v")))
_ENCODER = json.JSONEncoder(sort_keys=False, separators=(",", ":"), ensure_ascii=False)


__all__ = ["FORMAT_VERSION", "GENESIS", "SealedFields", "format_time", "sha256_hex"]
