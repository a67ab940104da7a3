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
import json.encoder
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

FORMAT_VERSION = 1
GENESIS = "0" * 64
#: a time's textual form, from its UTC fields (years from 1000 on: see ``format_time``)
_TIME_TEXT = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"
#: ``dt.datetime``, ``dt.UTC`` and ``hashlib.sha256`` under one name each (the hot path's lookups)
_DATETIME = dt.datetime
_UTC = dt.UTC
_sha256 = hashlib.sha256


def format_time(value: dt.datetime) -> str:
    """A time in the chain's one textual form: UTC, microseconds, ``Z``; naive means UTC.

    A plain ``datetime`` (every time the gateway makes) is written from its UTC fields in one
    formatting; anything else (a subclass, a year before 1000) the long way, whose output
    decides: the two agree wherever both apply (tests/unit/test_message_log_encoding.py).
    """
    if type(value) is _DATETIME:
        zone = value.tzinfo
        utc = value if zone is _UTC or zone is None else value.astimezone(_UTC)
        if utc.year >= 1000:
            return _TIME_TEXT % (
                utc.year,
                utc.month,
                utc.day,
                utc.hour,
                utc.minute,
                utc.second,
                utc.microsecond,
            )
    return format_time_plainly(value)


def format_time_plainly(value: dt.datetime) -> str:
    """:func:`format_time` the long way: to aware UTC, then ``isoformat`` (``strftime`` before
    the year 1000, whose ``%Y`` is not padded: the form records were first sealed with)."""
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
        unplaced = {name: getattr(self, name) for name in _UNPLACED}
        return SealedDocument(unplaced).canonical(self.seq, self.prev_digest)

    def digest(self) -> str:
        """SHA-256 of :meth:`canonical`, lowercase hex."""
        return sha256_hex(self.canonical())

    def at(self, seq: int) -> SealedFields:
        """The same fields sealed at another position (tells a moved record from an altered one)."""
        return replace(self, seq=seq)


_FIELD_NAMES = tuple(field.name for field in fields(SealedFields))
_SORTED_KEYS = tuple(sorted((*_FIELD_NAMES, "v")))
_ENCODER = json.JSONEncoder(sort_keys=False, separators=(",", ":"), ensure_ascii=False)
#: ``_ENCODER``'s C encoder, made once (``JSONEncoder.encode`` makes one per call): the same
#: bytes; no circular check, which a flat document of strings, integers and None never needs
_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER: Callable[[dict[str, object], int], list[str]] | None = (
    _MAKE_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    if _MAKE_ENCODER is not None
    else None
)
#: the fields a record's place in the chain gives it
PLACE_FIELDS = ("seq", "prev_digest")
#: the sealed fields known before a record has a place, in :class:`SealedFields`' order
_UNPLACED = tuple(name for name in _FIELD_NAMES if name not in PLACE_FIELDS)
_unplaced_values = operator.itemgetter(*_UNPLACED)
#: the document's keys in the encoding's (sorted) order, the format version set
_LAYOUT: dict[str, object] = {
    name: FORMAT_VERSION if name == "v" else None for name in _SORTED_KEYS
}


class SealedDocument:
    """What a record seals, all but its place in the chain: ready to be sealed at any place.

    The writer knows an exchange's sealed fields when it is queued, its ``seq`` and
    ``prev_digest`` only once its batch is chained onto the head (and again if the batch is
    written twice). The document is laid out once, in the encoding's key order; each place then
    costs a copy and the encoding, and no :class:`SealedFields` is built. ``values`` holds every
    field of :class:`SealedFields` but the place fields (more is ignored);
    :meth:`SealedFields.canonical` encodes through this class too, so there is one encoding.
    """

    __slots__ = ("_document",)

    def __init__(self, values: Mapping[str, object]) -> None:
        # a copy of the layout, in sorted key order (so the encoder need not sort), its values
        # set in place; the place fields are filled in by ``canonical``, where they stand
        self._document = _LAYOUT.copy()
        self._document.update(zip(_UNPLACED, _unplaced_values(values), strict=True))

    def canonical(self, seq: int, prev_digest: str) -> bytes:
        """The exact bytes the digest of the record at ``seq`` after ``prev_digest`` covers."""
        document = self._document.copy()
        document["seq"] = seq
        document["prev_digest"] = prev_digest
        if _C_ENCODER is None:
            return _ENCODER.encode(document).encode("utf-8")
        return "".join(_C_ENCODER(document, 0)).encode("utf-8")

    def digest(self, seq: int, prev_digest: str) -> str:
        """SHA-256 of :meth:`canonical`, lowercase hex (:func:`sha256_hex`)."""
        return _sha256(self.canonical(seq, prev_digest)).hexdigest()


__all__ = [
    "FORMAT_VERSION",
    "GENESIS",
    "PLACE_FIELDS",
    "SealedDocument",
    "SealedFields",
    "format_time",
    "format_time_plainly",
    "sha256_hex",
]
