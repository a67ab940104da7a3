"""The national business registry connector (REST/JSON, OAuth2 client credentials, RFC 9421).

``get_business(tax_code, ctx)``: an access token (client credentials, HTTP Basic, cached until
shortly before it expires) then a signed ``GET …/apiCSDLDKDN/1.0/chiTietDoanhNghiep``; the
verified answer's ``Data.MainInformation`` / ``Data.Representatives[]`` become a ``Business``.

Errors: 404 → ``NotFound``; 400 (``INVALID_TAX_CODE``, ``INVALID_REQUEST``) → ``InvalidRequest``;
401 ``INVALID_TOKEN`` → the token is dropped and the call made once more with a new one; other
401/403 (``BAD_SIGNATURE``, ``invalid_client``) → ``UpstreamRejected``; 502/503/504 → retried.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote, urlencode

from connectors.base import CallContext, UpstreamConfig
from connectors.credentials import CachedSecret, read_secret
from connectors.errors import BadUpstreamResponse, ConnectorError, InvalidRequest
from connectors.exchange import ExchangeRecorder
from connectors.resilience import Clock, Resilience
from connectors.rest import RestConnector, RestReply
from connectors.transport import Transport
from schemas.errors import InvalidWireRecord, SchemaError
from schemas.models import Business
from schemas.tax_code import validate_tax_code
from schemas.wire.registry import business_from_registry
from security.http_signatures import HttpSigner, HttpVerifier

GET_BUSINESS = "GetBusiness"
GET_TOKEN = "GetToken"  # noqa: S105 (an operation name)
TOKEN_PATH = "token"  # noqa: S105 (a path, not a password)
DETAIL_PATH = "apiCSDLDKDN/1.0/chiTietDoanhNghiep"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
DEFAULT_TOKEN_LIFETIME = 300.0  # seconds, when the token answer has no expires_in


def _error_code(payload: Any) -> str | None:
    """The gateway's ``Code`` (or OAuth2's ``error``) of an error answer, if it has one."""
    if isinstance(payload, dict):
        for key in ("Code", "error"):
            value = payload.get(key)
            if isinstance(value, str) and value.isascii() and len(value) <= 64:
                return value
    return None


class RegistryConnector(RestConnector):
    """Reads business records from the national business registry."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        signer: HttpSigner,
        verifier: HttpVerifier,
        client_id: str,
        client_secret: str,
        transport: Transport | None = None,
        recorder: ExchangeRecorder | None = None,
        resilience: Resilience | None = None,
        token_margin: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(
            config,
            signer=signer,
            verifier=verifier,
            sender=signer.keyid,
            transport=transport,
            recorder=recorder,
            resilience=resilience,
            operations=(GET_BUSINESS,),
        )
        basic = base64.b64encode(f"{quote(client_id)}:{quote(client_secret)}".encode()).decode()
        self._basic = f"Basic {basic}"
        self.tokens = CachedSecret(self._fetch_token, margin=token_margin, clock=clock)

    secret_fields = ("access_token", "refresh_token", "client_secret")

    def answer_outcome(self, status: int, body: bytes) -> str | None:
        """The registry's own answer: ``None`` (ok) for a 2xx; else the gateway's ``Code`` (or
        OAuth2's ``error``) of the answer, ``http_<status>`` when it names none."""
        if status < 400:
            return None
        try:
            code = _error_code(json.loads(body))
        except (ValueError, UnicodeDecodeError):
            code = None
        return code or super().answer_outcome(status, body)

    async def _fetch_token(self, time_limit: float, call: CallContext) -> tuple[str, float]:
        ctx = CallContext.new(call.client)
        body = urlencode({"grant_type": "client_credentials"}).encode("ascii")
        reply = await self.exchange(
            GET_TOKEN,
            "POST",
            self.config.url(TOKEN_PATH),
            ctx,
            time_limit=time_limit,
            body=body,
            headers={"Content-Type": FORM_CONTENT_TYPE, "Authorization": self._basic},
        )
        payload = self.read_json(GET_TOKEN, reply, ctx)
        if reply.status != 200:
            raise self.error_for_status(GET_TOKEN, reply, ctx, code=_error_code(payload))
        token = read_secret(payload, "access_token", DEFAULT_TOKEN_LIFETIME)
        if token is None:
            raise BadUpstreamResponse(
                f"{self.name}: the token answer lacks access_token or expires_in",
                upstream=self.name,
                message_id=ctx.message_id,
                fault_code="malformed_token",
                status=reply.status,
            )
        return token

    async def get_business(
        self, tax_code: str, ctx: CallContext, *, deadline: float | None = None
    ) -> Business:
        """The business registered under ``tax_code``; ``NotFound`` when there is none."""
        try:
            validate_tax_code(tax_code)
        except SchemaError as exc:
            raise InvalidRequest(
                f"{self.name}: {GET_BUSINESS} not sent, the tax code is malformed",
                upstream=self.name,
                message_id=ctx.message_id,
                fault_code="INVALID_TAX_CODE",
            ) from exc
        url = self.config.url(DETAIL_PATH) + "?" + urlencode({"maSoDoanhNghiep": tax_code})
        attempts = 0

        async def attempt(time_limit: float) -> Business:
            nonlocal attempts
            attempts += 1
            reply = await self._detail(url, ctx, time_limit, attempts)
            return self._business(reply, ctx)

        return await self.resilience.call(attempt, message_id=ctx.message_id, deadline=deadline)

    async def _detail(
        self, url: str, ctx: CallContext, time_limit: float, attempt: int
    ) -> RestReply:
        async def send(token: str) -> RestReply:
            return await self.exchange(
                GET_BUSINESS,
                "GET",
                url,
                ctx,
                time_limit=time_limit,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                attempt=attempt,
            )

        return await self.tokens.call_with_renewal(time_limit, ctx, send, self._token_refused)

    def _token_refused(self, reply: RestReply) -> bool:
        return reply.status == 401 and self._code(reply) == "INVALID_TOKEN"

    def _code(self, reply: RestReply) -> str | None:
        try:
            return _error_code(reply.json())
        except (ValueError, UnicodeDecodeError):
            return None

    def _business(self, reply: RestReply, ctx: CallContext) -> Business:
        payload = self.read_json(GET_BUSINESS, reply, ctx)
        if reply.status != 200:
            error: ConnectorError = self.error_for_status(
                GET_BUSINESS, reply, ctx, code=_error_code(payload)
            )
            raise error
        try:
            return business_from_registry(payload)
        except (InvalidWireRecord, SchemaError) as exc:
            raise BadUpstreamResponse(
                f"{self.name}: {GET_BUSINESS} answer does not map to the canonical model",
                upstream=self.name,
                message_id=ctx.message_id,
                fault_code="malformed_record",
                status=reply.status,
            ) from exc


__all__ = ["DETAIL_PATH", "GET_BUSINESS", "TOKEN_PATH", "RegistryConnector"]
