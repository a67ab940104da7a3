"""What every connector shares: the call's context, the ``Connector`` role, per-upstream settings.

A connector is built once at start-up from an ``UpstreamConfig`` (small value objects, no globals)
and used by many concurrent calls; each call brings its ``CallContext`` (who asks, for which
official and dossier, under which message id).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is asking and why: the X-Road ``id``, the calling client, the official and the dossier.

    ``message_id`` is the id of the exchange (a UUID for SOAP); ``client`` is the caller's keyid
    (e.g. ``province-app``); ``user_id`` is the official (``VN`` + CCCD) and ``issue`` the dossier
    code that justifies a lookup.
    """

    message_id: str
    client: str
    user_id: str | None = None
    issue: str | None = None

    @classmethod
    def new(
        cls, client: str, *, user_id: str | None = None, issue: str | None = None
    ) -> CallContext:
        """A context with a fresh UUID as its message id."""
        return cls(str(uuid.uuid4()), client, user_id, issue)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-upstream timeouts in seconds: connecting, and one whole attempt (send to last byte)."""

    connect: float = 2.0
    attempt: float = 5.0


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Retries of transient failures: attempts, exponential backoff with jitter, overall deadline.

    ``deadline`` bounds the whole call, every attempt and every wait included.
    """

    attempts: int = 3
    initial_backoff: float = 0.05
    max_backoff: float = 1.0
    jitter: float = 0.05
    deadline: float = 10.0


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """The circuit breaker: consecutive transient failures that open it, time before a probe."""

    failure_threshold: int = 5
    reset_timeout: float = 5.0
    half_open_probes: int = 1


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """How to reach one upstream and how patient to be with it.

    ``name`` is the upstream (``population``, ``registry``, ``portal``); ``party`` the name its
    replies must be signed with (its certificate's CN, its RFC 9421 keyid), ``name`` by default.
    """

    name: str
    base_url: str
    party: str = ""
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    max_concurrency: int = 64

    @property
    def signer_party(self) -> str:
        """The party whose signature a reply from this upstream must carry."""
        return self.party or self.name

    def url(self, path: str) -> str:
        """``base_url`` joined with ``path`` (one slash between them)."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


class BreakerState(StrEnum):
    """The circuit breaker's state: calls flow, fail fast, or one probe is let through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class ConnectorHealth:
    """A connector's health for ``/readyz`` and ``/v1/services``.

    ``last_failure_code`` is the error class name or fault code of the last failure (no payload).
    """

    name: str
    state: BreakerState
    in_flight: int
    last_success: dt.datetime | None
    last_failure: dt.datetime | None
    last_failure_code: str | None
    operations: tuple[str, ...]

    @property
    def ready(self) -> bool:
        """Whether calls are let through (the breaker is not open)."""
        return self.state is not BreakerState.OPEN

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view."""
        return {
            "name": self.name,
            "state": self.state.value,
            "ready": self.ready,
            "in_flight": self.in_flight,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_failure": self.last_failure.isoformat() if self.last_failure else None,
            "last_failure_code": self.last_failure_code,
            "operations": list(self.operations),
        }


@runtime_checkable
class Connector(Protocol):
    """One upstream national system seen from inside: a name, its health, and a way to close it."""

    @property
    def name(self) -> str:
        """The upstream's name (``population``, ``registry``, ``portal``)."""
        ...

    def health(self) -> ConnectorHealth:
        """Breaker state and the times of the last success and failure."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections; the connector is not used afterwards."""
        ...


__all__ = [
    "BreakerSettings",
    "BreakerState",
    "CallContext",
    "Connector",
    "ConnectorHealth",
    "RetrySettings",
    "Timeouts",
    "UpstreamConfig",
]
