"""Errors raised by ``connectors``: one tree, split by what a caller should do about them.

Tree::

    ConnectorError              base; ``upstream``, ``message_id``, ``fault_code``, ``status``
    ├── TransientError          worth retrying later: the upstream may answer next time
    │   ├── UpstreamTimeout     no answer within the per-upstream timeout or the call's deadline
    │   ├── UpstreamUnavailable connection failed, 502/503/504, a transient SOAP Server fault,
    │   │                       the portal's internal error
    │   └── CircuitOpen         the breaker of this upstream is open: failed fast, nothing sent
    └── PermanentError          the same request will fail again: never retried
        ├── NotFound            the upstream does not know the citizen, business or dossier
        ├── InvalidRequest      the upstream refused the request's content (bad ID, bad field)
        ├── UpstreamRejected    any other refusal: a 4xx, a SOAP Client fault, credentials refused
        │   ├── AlreadyExists   the record (or the idempotency key, for another step) exists
        │   ├── IllegalMove     the status change is not allowed by the dossier lifecycle
        │   └── OutOfOrder      a progress step does not follow the last one applied
        ├── BadUpstreamSignature  the reply's signature is missing, invalid, or from the wrong party
        └── BadUpstreamResponse the reply is malformed, or its X-Road header does not echo the
                                request (wrong ``client``/``service``/``id``, wrong ``requestHash``)

Messages name the upstream, the operation and a code; never a payload body or a personal field.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error raised by a connector; fields say where and why, never what was sent."""

    def __init__(
        self,
        message: str,
        *,
        upstream: str,
        message_id: str | None = None,
        fault_code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.upstream = upstream
        self.message_id = message_id
        self.fault_code = fault_code
        self.status = status

    @property
    def message(self) -> str:
        """The human-readable explanation (no payload content)."""
        return str(self.args[0]) if self.args else type(self).__name__

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (only ``TransientError`` says yes)."""
        return False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, upstream={self.upstream!r}, "
            f"message_id={self.message_id!r}, fault_code={self.fault_code!r}, "
            f"status={self.status!r})"
        )


class TransientError(ConnectorError):
    """Raised when the failure may pass: retried within the call's deadline."""

    @property
    def retryable(self) -> bool:
        return True


class UpstreamTimeout(TransientError):
    """Raised when the upstream gave no complete answer within the timeout or the deadline."""


class UpstreamUnavailable(TransientError):
    """Raised on a connection failure, a 502/503/504, or a fault the upstream marks transient."""


class CircuitOpen(TransientError):
    """Raised without sending anything while the upstream's circuit breaker is open."""


class PermanentError(ConnectorError):
    """Raised when repeating the request cannot help: never retried."""


class NotFound(PermanentError):
    """Raised when the upstream does not know the citizen, business or dossier asked for."""


class InvalidRequest(PermanentError):
    """Raised when the upstream refuses the content of the request (malformed ID or field)."""


class UpstreamRejected(PermanentError):
    """Raised on any other refusal: a 4xx, a SOAP Client fault, an illegal move, a duplicate."""


class AlreadyExists(UpstreamRejected):
    """Raised when the upstream already holds the record being created (or the key reused)."""


class IllegalMove(UpstreamRejected):
    """Raised when the upstream refuses a status change its dossier lifecycle does not allow."""


class OutOfOrder(UpstreamRejected):
    """Raised when a progress step does not come after the last step the upstream applied."""


class BadUpstreamSignature(PermanentError):
    """Raised when a reply's signature is missing or invalid, or made by another party.

    ``fault_code`` holds the verifier's ``reason`` (e.g. ``missing_signature``).
    """


class BadUpstreamResponse(PermanentError):
    """Raised when a reply is malformed or does not answer the request that was sent."""


__all__ = [
    "AlreadyExists",
    "BadUpstreamResponse",
    "BadUpstreamSignature",
    "CircuitOpen",
    "ConnectorError",
    "IllegalMove",
    "InvalidRequest",
    "NotFound",
    "OutOfOrder",
    "PermanentError",
    "TransientError",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]
