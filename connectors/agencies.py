"""The agency systems that take the steps of inter-agency chains (REST/JSON, RFC 9421).

One ``AgencyConnector`` per agency system (civil status, residence, social security), each with
its own party: its replies must be signed by it. Two calls:

- ``submit(reference, action, fields, ctx)`` — ``POST …/requests``: the agency takes the
  request in and answers what became of it (``AgencyAnswer``);
- ``find(reference, ctx)`` — ``GET …/requests/{reference}``: what the agency holds under that
  reference, or None. A caller that does not know whether a submit arrived (a timeout, a dropped
  answer, a worker killed before it recorded the answer) reads back before it submits again:
  agencies do not deduplicate.

Neither call is retried inside the connector (``attempts`` is forced to 1): a submit sent twice
would be applied twice, so retries belong to the caller, which reads back first. Errors: 400 →
``InvalidRequest``; 404 on ``find`` → None; other 4xx → ``UpstreamRejected``; 502/503/504 and
timeouts → ``TransientError``; a reply not signed by the agency → ``BadUpstreamSignature``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from connectors.base import CallContext, UpstreamConfig
from connectors.errors import BadUpstreamResponse
from connectors.exchange import ExchangeRecorder
from connectors.resilience import Resilience
from connectors.rest import RestConnector, RestReply, encode_json
from connectors.transport import Transport
from security.http_signatures import HttpSigner, HttpVerifier

SUBMIT = "SubmitRequest"
FIND = "FindRequest"
REQUESTS_PATH = "api/requests"
#: what an agency answers about a request
STATES = frozenset({"processing", "verification", "issued", "refused"})


@dataclass(frozen=True, slots=True)
class AgencyAnswer:
    """What an agency holds for one request: its state, its result or the reason it refused."""

    reference: str
    state: str
    result: dict[str, Any] | None
    reason: str | None

    @property
    def decided(self) -> bool:
        """Whether the agency has decided (issued or refused)."""
        return self.state in ("issued", "refused")


class AgencyConnector(RestConnector):
    """Sends chain steps to one agency system and reads them back."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        signer: HttpSigner,
        verifier: HttpVerifier,
        transport: Transport | None = None,
        recorder: ExchangeRecorder | None = None,
        resilience: Resilience | None = None,
    ) -> None:
        config = replace(config, retry=replace(config.retry, attempts=1))
        super().__init__(
            config,
            signer=signer,
            verifier=verifier,
            sender=signer.keyid,
            transport=transport,
            recorder=recorder,
            resilience=resilience,
            operations=(SUBMIT, FIND),
        )

    async def submit(
        self, reference: str, action: str, fields: dict[str, Any], ctx: CallContext
    ) -> AgencyAnswer:
        """Send one request; the agency's answer (``ConnectorError`` when there is none)."""
        body = encode_json({"reference": reference, "action": action, "fields": fields})

        async def attempt(time_limit: float) -> AgencyAnswer:
            reply = await self.exchange(
                SUBMIT,
                "POST",
                self.config.url(REQUESTS_PATH),
                ctx,
                time_limit=time_limit,
                body=body,
            )
            return self._answer(SUBMIT, reply, ctx, (200, 201))

        return await self.resilience.call(attempt, message_id=ctx.message_id)

    async def find(self, reference: str, ctx: CallContext) -> AgencyAnswer | None:
        """What the agency holds under ``reference``; None when it holds nothing."""
        url = self.config.url(f"{REQUESTS_PATH}/{quote(reference, safe='')}")

        async def attempt(time_limit: float) -> AgencyAnswer | None:
            reply = await self.exchange(
                FIND, "GET", url, ctx, time_limit=time_limit, headers={"Accept": "application/json"}
            )
            if reply.status == 404:
                return None
            return self._answer(FIND, reply, ctx, (200,))

        return await self.resilience.call(attempt, message_id=ctx.message_id)

    def _answer(
        self, operation: str, reply: RestReply, ctx: CallContext, ok: tuple[int, ...]
    ) -> AgencyAnswer:
        payload = self.read_json(operation, reply, ctx)
        if reply.status not in ok:
            code = payload.get("Code") if isinstance(payload, dict) else None
            raise self.error_for_status(
                operation, reply, ctx, code=code if isinstance(code, str) else None
            )
        if not isinstance(payload, dict):
            raise self._malformed(operation, reply, ctx)
        reference, state = payload.get("reference"), payload.get("state")
        result, reason = payload.get("result"), payload.get("reason")
        if (
            not isinstance(reference, str)
            or state not in STATES
            or not (result is None or isinstance(result, dict))
            or not (reason is None or isinstance(reason, str))
            or (state == "issued" and result is None)
        ):
            raise self._malformed(operation, reply, ctx)
        return AgencyAnswer(reference, str(state), result, reason)

    def _malformed(self, operation: str, reply: RestReply, ctx: CallContext) -> BadUpstreamResponse:
        return BadUpstreamResponse(
            f"{self.name}: {operation} answer does not have the agency's shape",
            upstream=self.name,
            message_id=ctx.message_id,
            fault_code="malformed_answer",
            status=reply.status,
        )


__all__ = ["FIND", "STATES", "SUBMIT", "AgencyAnswer", "AgencyConnector"]
