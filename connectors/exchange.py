"""One exchange with an upstream as it crossed the wire, and the recorder that keeps it.

Every attempt a connector makes produces an ``Exchange``: the signed request bytes and the
response bytes exactly as sent and received (with the headers that carry RFC 9421 signatures),
the parties, the message id, the official and the dossier, the times and the outcome. The
message log (``store``) implements ``ExchangeRecorder``; ``NullRecorder`` is the do-nothing
default and ``MemoryRecorder`` keeps exchanges in a list for tests.

Recording is part of the call: a recorder that raises fails the call (the log is not optional).
An exchange may also carry the certificates its messages were signed with when the connector
already holds them (its own signing certificate; the one the reply verified with), so the message
log need not parse the envelopes again to find them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cryptography import x509

#: Outcome of an exchange that got a verified, successful answer.
OK = "ok"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request/response pair with an upstream, as on the wire.

    ``sender`` is our party (``adapter``), ``receiver`` the upstream's; ``client`` the caller the
    call was made for; ``user_id`` the official and ``issue`` the dossier. ``response`` is
    ``None`` when nothing came back (timeout, connection failure). ``status`` is the HTTP status;
    ``outcome`` is ``ok`` or the fault code / error code the call ended with. ``attempt``
    counts from 1 within one logical call. ``request_certificate`` / ``response_certificate``
    are the certificates the request was signed with and the reply verified with, when the
    connector knows them (``None``: whoever keeps the exchange finds them in the messages).
    ``secrets`` name the credentials the messages carry (a password, a session, a token) as
    ``(name, value)`` pairs: whoever keeps the exchange must not keep those values (the message
    log replaces each by a keyed tag, docs/evidence-bundle.md). ``request_sha256`` is the
    lowercase hex SHA-256 of ``request`` when the connector computed it anyway (the X-Road
    ``requestHash``), so a keeper need not hash the same bytes again; ``None``: not computed.
    """

    upstream: str
    operation: str
    protocol: str
    message_id: str
    client: str
    sender: str
    receiver: str
    user_id: str | None
    issue: str | None
    method: str
    url: str
    request: bytes
    request_headers: Mapping[str, str]
    response: bytes | None
    response_headers: Mapping[str, str]
    status: int | None
    outcome: str
    started_at: dt.datetime
    finished_at: dt.datetime
    attempt: int = 1
    request_certificate: x509.Certificate | None = None
    response_certificate: x509.Certificate | None = None
    secrets: tuple[tuple[str, str], ...] = ()
    request_sha256: str | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the upstream answered successfully and the answer verified."""
        return self.outcome == OK

    @property
    def duration_ms(self) -> float:
        """Wall time of the exchange in milliseconds."""
        return (self.finished_at - self.started_at).total_seconds() * 1000.0


class ExchangeDraft:
    """An :class:`Exchange` being built: the same fields in the same slots, not frozen.

    Made empty and filled in one field at a time (every field: a slot left unset raises
    ``AttributeError`` when read); :func:`sealed` then makes it the frozen ``Exchange``. A frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``, and a class called
    with keywords passes them through a dict: for these 24 fields, measured with callgrind,
    ``Exchange(**fields)`` takes ~49k instructions, a filled-in draft ~10k.
    """

    __slots__ = Exchange.__slots__


def sealed(draft: ExchangeDraft) -> Exchange:
    """The frozen :class:`Exchange` a filled-in :class:`ExchangeDraft` becomes: the same object,
    its class switched (the two share their slots), equal to ``Exchange(**same_fields)``."""
    draft.__class__ = Exchange  # type: ignore[assignment]
    return draft  # type: ignore[return-value]  # an Exchange now (no ``cast``: one call fewer)


@runtime_checkable
class ExchangeRecorder(Protocol):
    """Keeps exchanges (the message log). Implementations must not log payloads elsewhere."""

    async def record(self, exchange: Exchange) -> None:
        """Keep ``exchange``; raising fails the call that produced it."""
        ...


class NullRecorder:
    """An ``ExchangeRecorder`` that keeps nothing (the default when no message log is set)."""

    async def record(self, exchange: Exchange) -> None:
        return None


@dataclass
class MemoryRecorder:
    """An ``ExchangeRecorder`` that appends every exchange to ``exchanges`` (for tests)."""

    exchanges: list[Exchange] = field(default_factory=list)

    async def record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)


__all__ = [
    "OK",
    "Exchange",
    "ExchangeDraft",
    "ExchangeRecorder",
    "MemoryRecorder",
    "NullRecorder",
    "sealed",
]
