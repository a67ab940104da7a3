"""The REST base: RFC 9421-signed requests out, verified responses in, statuses mapped.

``RestConnector.exchange(...)`` makes one signed HTTP exchange: the request gets
``Content-Digest`` and an RFC 9421 signature (``security.http_signatures.HttpSigner``); a
502/503/504 is ``UpstreamUnavailable`` without further ado; every other response must carry a
signature by the upstream's party bound to our request (``;req``), else
``BadUpstreamSignature``. The exchange is recorded with the exact bytes and signature headers.

Concrete connectors (``registry``, ``portal``) wrap their attempts in ``self.resilience.call``
and map statuses with ``raise_for_status`` and their own protocol's error codes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from connectors.base import CallContext, UpstreamConfig
from connectors.errors import (
    BadUpstreamResponse,
    BadUpstreamSignature,
    ConnectorError,
    InvalidRequest,
    NotFound,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.exchange import ExchangeRecorder
from connectors.resilience import Resilience
from connectors.transport import HttpResponse, Transport
from connectors.upstream import UpstreamClient
from schemas.times import utc_now
from security.errors import SecurityError
from security.http_signatures import HttpSigner, HttpVerifier, RequestView

TRANSIENT_STATUSES = frozenset({502, 503, 504})
JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class RestReply:
    """A verified response: status, headers (lower-case names), body, and its signer's keyid."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    signer: str

    def json(self) -> Any:
        """The body parsed as JSON (``BadUpstreamResponse`` is raised by callers on failure)."""
        return json.loads(self.body)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as sent on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RestConnector(UpstreamClient):
    """A connector to a REST/JSON upstream that signs requests and verifies responses."""

    protocol = "rest"

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        signer: HttpSigner,
        verifier: HttpVerifier,
        sender: str,
        transport: Transport | None = None,
        recorder: ExchangeRecorder | None = None,
        resilience: Resilience | None = None,
        operations: tuple[str, ...] = (),
    ) -> None:
        super().__init__(
            config,
            sender=sender,
            transport=transport,
            recorder=recorder,
            resilience=resilience,
            operations=operations,
        )
        self.signer = signer
        self.verifier = verifier

    #: top-level fields of a JSON (or form) body whose values are credentials: the message log
    #: keeps a keyed tag in their place (the connectors for each upstream name theirs)
    secret_fields: tuple[str, ...] = ()

    async def exchange(
        self,
        operation: str,
        method: str,
        url: str,
        ctx: CallContext,
        *,
        time_limit: float,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        attempt: int = 1,
        secrets: Mapping[str, str] | None = None,
    ) -> RestReply:
        """Sign, send, record and verify one request; raise on transport or signature failure.

        The status is not judged here beyond 502/503/504 (transient, not verified): the caller
        maps the verified status and body. The recorded outcome of a verified reply is the
        application's answer (:meth:`answer_outcome`), not its HTTP status. ``secrets`` (name →
        value) and the values of :attr:`secret_fields` in either body are handed to the
        recorder as credentials it must not keep; credential headers are blanked.
        """
        request_headers = dict(headers or {})
        if body and not any(name.lower() == "content-type" for name in request_headers):
            request_headers["Content-Type"] = JSON_CONTENT_TYPE
        request_headers.update(self.signer.sign_request(method, url, request_headers, body))
        started = utc_now()
        response: HttpResponse | None = None
        error: BaseException | None = None
        try:
            if method == "GET":
                response = await self.transport.get(url, request_headers, time_limit)
            else:
                response = await self.transport.post(url, body, request_headers, time_limit)
            return self._verify(operation, method, url, request_headers, response, ctx)
        except BaseException as exc:
            error = exc
            raise
        finally:
            found = dict(secrets or {})
            found.update(secret_values(body, self.secret_fields))
            if response is not None:
                found.update(secret_values(response.body, self.secret_fields))
            await self.record(
                operation=operation,
                ctx=ctx,
                method=method,
                url=url,
                request=body,
                request_headers=_without_secrets(request_headers),
                response=response,
                error=error,
                started_at=started,
                attempt=attempt,
                time_limit=time_limit,
                outcome=(
                    self.answer_outcome(response.status, response.body)
                    if error is None and response is not None
                    else None
                ),
                secrets=tuple(sorted(found.items())),
            )

    def answer_outcome(self, status: int, body: bytes) -> str | None:
        """The outcome a verified reply records: ``None`` for ``ok``, else the upstream's code.

        The REST base knows only HTTP: ``http_<status>`` for a 4xx/5xx. Connectors override it
        with their protocol's answer (the portal's ``error_code``, the registry's ``Code``).
        """
        return f"http_{status}" if status >= 400 else None

    def _verify(
        self,
        operation: str,
        method: str,
        url: str,
        request_headers: Mapping[str, str],
        response: HttpResponse,
        ctx: CallContext,
    ) -> RestReply:
        upstream = self.config.name
        if response.status in TRANSIENT_STATUSES:
            raise UpstreamUnavailable(
                f"{upstream}: {operation} answered HTTP {response.status}",
                upstream=upstream,
                message_id=ctx.message_id,
                fault_code=f"http_{response.status}",
                status=response.status,
            )
        try:
            signer = self.verifier.verify_response(
                response.status,
                response.headers,
                response.body,
                request=RequestView(method, url, request_headers),
                expected_keyid=self.config.signer_party,
            )
        except SecurityError as exc:
            raise BadUpstreamSignature(
                f"{upstream}: {operation} response refused ({exc.reason})",
                upstream=upstream,
                message_id=ctx.message_id,
                fault_code=exc.reason,
                status=response.status,
            ) from exc
        return RestReply(response.status, response.headers, response.body, signer)

    def error_for_status(
        self, operation: str, reply: RestReply, ctx: CallContext, *, code: str | None = None
    ) -> ConnectorError:
        """The error a non-success HTTP status means (4xx permanent, 5xx per the tree)."""
        status = reply.status
        upstream = self.config.name
        fields: dict[str, Any] = {
            "upstream": upstream,
            "message_id": ctx.message_id,
            "fault_code": code or f"http_{status}",
            "status": status,
        }
        text = f"{upstream}: {operation} answered HTTP {status}"
        if status == 404:
            return NotFound(text, **fields)
        if status in (400, 422):
            return InvalidRequest(text, **fields)
        if 400 <= status < 500:
            return UpstreamRejected(text, **fields)
        if status in TRANSIENT_STATUSES:
            return UpstreamUnavailable(text, **fields)
        return BadUpstreamResponse(text, **fields)

    def read_json(self, operation: str, reply: RestReply, ctx: CallContext) -> Any:
        """The reply's JSON body, or ``BadUpstreamResponse`` when it is not JSON."""
        try:
            return reply.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadUpstreamResponse(
                f"{self.config.name}: {operation} reply is not JSON",
                upstream=self.config.name,
                message_id=ctx.message_id,
                fault_code="malformed_json",
                status=reply.status,
            ) from exc


_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


def _without_secrets(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers for the message log, with credentials blanked (signatures still verify: the
    signed components of our requests never include them)."""
    return {
        name: ("<redacted>" if name.lower() in _SECRET_HEADERS else value)
        for name, value in headers.items()
    }


def secret_values(body: bytes, names: tuple[str, ...]) -> dict[str, str]:
    """The string values of the top-level fields ``names`` in a JSON object or form body."""
    if not names or not body:
        return {}
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        try:
            payload = {k: v[0] for k, v in parse_qs(body.decode("ascii")).items() if v}
        except (ValueError, UnicodeDecodeError):
            return {}
    if not isinstance(payload, dict):
        return {}
    return {name: value for name in names if isinstance(value := payload.get(name), str) and value}


__all__ = [
    "JSON_CONTENT_TYPE",
    "TRANSIENT_STATUSES",
    "RestConnector",
    "RestReply",
    "encode_json",
    "secret_values",
]
