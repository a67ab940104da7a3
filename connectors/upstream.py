"""The plumbing every connector shares: transport, resilience, message log, health, logging.

``UpstreamClient`` is the base of ``SoapConnector`` and ``RestConnector``. It owns the
upstream's transport (one pooled session), its ``Resilience`` (breaker, limiter, retries) and
the ``ExchangeRecorder``; it records each attempt as an ``Exchange`` and logs one line per
attempt with the upstream, operation, message id, status and outcome — never a body.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from cryptography import x509

from connectors.base import CallContext, ConnectorHealth, UpstreamConfig
from connectors.errors import ConnectorError
from connectors.exchange import OK, Exchange, ExchangeDraft, ExchangeRecorder, NullRecorder
from connectors.resilience import Resilience
from connectors.transport import DEFAULT_TRANSPORT, HttpResponse, Transport, make_transport
from schemas.times import utc_now

logger = logging.getLogger("lienthong.connectors")


#: the outcome of an attempt cut off by its time limit (``Resilience`` cancels it)
TIMEOUT = "timeout"


def outcome_of(exc: BaseException, *, timed_out: bool = False) -> str:
    """A short, payload-free code for how an attempt ended.

    An attempt cancelled once its time limit had passed (``timed_out``) ended in a ``timeout``,
    not in the ``CancelledError`` the limit was enforced with; one cancelled earlier (the
    process stopping) is ``cancelled``.
    """
    if isinstance(exc, ConnectorError):
        return exc.fault_code or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, asyncio.CancelledError):
        return TIMEOUT if timed_out else "cancelled"
    return type(exc).__name__


class UpstreamClient:
    """Transport, resilience and message log of one upstream; base of the concrete connectors."""

    protocol = "http"

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        sender: str,
        transport: Transport | None = None,
        recorder: ExchangeRecorder | None = None,
        resilience: Resilience | None = None,
        operations: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.sender = sender
        #: the party the upstream's replies must be signed by (``config.signer_party``, kept)
        self.signer_party = config.signer_party
        self.transport = transport or make_transport(
            DEFAULT_TRANSPORT,
            config.name,
            connect_timeout=config.timeouts.connect,
            max_connections=config.max_concurrency,
        )
        self.recorder: ExchangeRecorder = recorder or NullRecorder()
        self.resilience = resilience or Resilience(config)
        self.operations = operations

    @property
    def name(self) -> str:
        """The upstream's name."""
        return self.config.name

    def health(self) -> ConnectorHealth:
        """Breaker state, calls in flight, and the last success and failure."""
        r = self.resilience
        return ConnectorHealth(
            name=self.config.name,
            state=r.breaker.state,
            in_flight=r.limiter.in_flight,
            last_success=r.last_success,
            last_failure=r.last_failure,
            last_failure_code=r.last_failure_code,
            operations=self.operations,
        )

    async def aclose(self) -> None:
        """Close the transport's pooled connections."""
        await self.transport.aclose()

    def record(
        self,
        *,
        operation: str,
        ctx: CallContext,
        method: str,
        url: str,
        request: bytes,
        request_headers: Mapping[str, str],
        response: HttpResponse | None,
        error: BaseException | None,
        started_at: dt.datetime,
        attempt: int,
        message_id: str | None = None,
        outcome: str | None = None,
        request_certificate: x509.Certificate | None = None,
        response_certificate: x509.Certificate | None = None,
        secrets: tuple[tuple[str, str], ...] = (),
        time_limit: float | None = None,
        request_sha256: str | None = None,
    ) -> Awaitable[None]:
        """Log one line for the attempt and hand the exchange to the recorder; await the result.

        ``outcome`` defaults to ``ok`` without ``error``, else the error's code. The
        certificates, when given, are those the request was signed with and the reply verified
        with (the recorder then need not look for them in the messages); ``secrets`` the
        credentials the messages carry, which the recorder must not keep; ``time_limit`` the
        seconds the attempt was given: cancelled after it, the attempt timed out;
        ``request_sha256`` the hex SHA-256 of ``request``, when the connector computed it.

        A plain method returning the recorder's own awaitable (``await self.record(...)``):
        the exchange is built and logged when it is called, and the caller awaits the recorder
        directly, without a coroutine of this method in between.
        """
        if outcome is None:
            if error is None:
                outcome = OK
            else:
                timed_out = time_limit is not None and elapsed(started_at) >= time_limit * 0.99
                outcome = outcome_of(error, timed_out=timed_out)
        status = response.status if response is not None else None
        # filled in field by field, then sealed: the same Exchange as ``Exchange(**fields)``
        draft: Any = ExchangeDraft()
        draft.upstream = self.config.name
        draft.operation = operation
        draft.protocol = self.protocol
        draft.message_id = message_id or ctx.message_id
        draft.client = ctx.client
        draft.sender = self.sender
        draft.receiver = self.signer_party
        draft.user_id = ctx.user_id
        draft.issue = ctx.issue
        draft.method = method
        draft.url = url
        draft.request = request
        draft.request_headers = dict(request_headers)
        draft.response = response.body if response is not None else None
        draft.response_headers = dict(response.headers) if response is not None else {}
        draft.status = status
        draft.outcome = outcome
        draft.started_at = started_at
        draft.finished_at = dt.datetime.now(dt.UTC)  # as ``utc_now``, without its frame
        draft.attempt = attempt
        draft.request_certificate = request_certificate
        draft.response_certificate = response_certificate
        draft.secrets = secrets
        draft.request_sha256 = request_sha256
        draft.__class__ = Exchange  # as ``sealed(draft)`` does, without its frame
        exchange: Exchange = draft
        if outcome == OK:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "upstream call ok",
                    extra=_log_fields(exchange),
                )
        else:
            logger.info("upstream call failed", extra=_log_fields(exchange))
        return self.recorder.record(exchange)


def elapsed(since: dt.datetime) -> float:
    """Seconds from ``since`` to now."""
    return (utc_now() - since).total_seconds()


def _log_fields(exchange: Exchange) -> dict[str, object]:
    return {
        "upstream": exchange.upstream,
        "operation": exchange.operation,
        "message_id": exchange.message_id,
        "client": exchange.client,
        "status": exchange.status,
        "outcome": exchange.outcome,
        "attempt": exchange.attempt,
        "duration_ms": round(exchange.duration_ms, 2),
        "dossier_code": exchange.issue,
    }


__all__ = ["TIMEOUT", "UpstreamClient", "elapsed", "logger", "outcome_of"]
