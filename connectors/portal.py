"""The National Public Service Portal connector (REST/JSON, session login, RFC 9421).

A session comes from ``POST …/login`` (``{"username", "password"}`` + a ``dstcode`` header),
is cached until shortly before ``expires_in`` and renewed once when a call answers the
session-expired code. Every call is ``POST …/api`` with ``{"session", "madonvi", "service", …}``:

- ``lookup_dossier`` — ``TraCuuHoSo``: the dossier the portal holds, or ``None``;
- ``sync_dossiers`` — ``DongBoHoSoMC`` with ``isUpdating``, in batches of ``data: [...]``;
- ``push_progress`` — ``CapNhatTienDoHoSoMC``: progress records in the portal's shape, which
  carries no key the portal could de-duplicate by, so the call is sent once and never retried
  here (the caller reads back with ``lookup_dossier`` after an unclear outcome);
- ``list_procedures`` / ``get_procedure`` — ``LayDanhSachTTHC`` / ``LayThuTuc``.

A record that cannot be written in the portal's form (a date it cannot hold, say) is not sent:
its result is ``InvalidRequest`` (fault ``UNCONVERTIBLE``) and the other records go ahead.

Answers carry ``error_code`` ("0"/"00"/0 is success). Batch answers carry one result per item:
they are returned as a ``BatchResult`` (each item ok or with its error), never raised, so the
caller can act per dossier. Codes map to the error tree: "-1" session expired (re-login),
"1" ``InvalidRequest``, "2" ``NotFound``, "3" ``AlreadyExists``, "4" ``IllegalMove``,
"5" ``OutOfOrder``, "6"/"7"/"8" ``UpstreamRejected``, "9" ``UpstreamUnavailable`` (retried).
"8" (``madonvi`` not the unit the session logged in for) is permanent: the connector sends
``agency_code`` both as the login's ``dstcode`` and as ``madonvi``, so neither a retry nor a
new session can change the answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connectors.base import CallContext, UpstreamConfig
from connectors.credentials import CachedSecret, read_secret
from connectors.errors import (
    AlreadyExists,
    BadUpstreamResponse,
    ConnectorError,
    IllegalMove,
    InvalidRequest,
    NotFound,
    OutOfOrder,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.exchange import ExchangeRecorder
from connectors.portal_answers import BatchResult, ItemResult, PortalDossier
from connectors.resilience import Clock, Resilience
from connectors.rest import RestConnector, RestReply, encode_json
from connectors.transport import Transport
from schemas.errors import InvalidWireRecord, SchemaError
from schemas.models import Dossier
from schemas.wire import portal as wire
from security.http_signatures import HttpSigner, HttpVerifier

LOGIN: Final = "Login"
LOGIN_PATH: Final = "login"
API_PATH: Final = "api"
DEFAULT_BATCH_SIZE: Final = 100

#: the portal's error_code → (stable fault code, error class)
ERROR_CODES: Final[dict[str, tuple[str, type[ConnectorError]]]] = {
    "-1": ("SESSION_EXPIRED", UpstreamRejected),
    "1": ("INVALID_INPUT", InvalidRequest),
    "2": ("NOT_FOUND", NotFound),
    "3": ("ALREADY_EXISTS", AlreadyExists),
    "4": ("ILLEGAL_MOVE", IllegalMove),
    "5": ("OUT_OF_ORDER", OutOfOrder),
    "6": ("BAD_CREDENTIALS", UpstreamRejected),
    "7": ("BAD_SIGNATURE", UpstreamRejected),
    "8": ("UNIT_MISMATCH", UpstreamRejected),
    "9": ("UNAVAILABLE", UpstreamUnavailable),
}
SESSION_EXPIRED: Final = "-1"
OUTCOME_MAX: Final = 64
DEFAULT_SESSION_LIFETIME: Final = 1800.0  # seconds, when the login answer has no expires_in


def _code_text(value: object) -> str:
    if isinstance(value, bool):
        return "?"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().isascii() and len(value.strip()) <= 8:
        text = value.strip()
        return "0" if text == "00" else text
    return "?"


def _fault_name(code: str) -> str:
    return ERROR_CODES.get(code, (f"PORTAL_{code}", UpstreamRejected))[0]


def _session_expired(answer: tuple[RestReply, dict[str, Any]]) -> bool:
    """Whether the portal answered that the session sent is no longer valid."""
    return _code_text(answer[1].get("error_code")) == SESSION_EXPIRED


@dataclass(frozen=True, slots=True)
class Procedure:
    """One administrative procedure (TTHC) of the portal's catalogue."""

    code: str
    name: str
    sector_code: str
    sector_name: str | None
    agency: str | None
    level: str | None
    processing_days: int | None
    fee_vnd: int | None

    @classmethod
    def from_portal(cls, item: Any) -> Procedure:
        """Read one ``LayThuTuc`` / ``LayDanhSachTTHC`` item; ``ValueError`` if malformed."""
        if not isinstance(item, dict):
            raise ValueError("a procedure must be a JSON object")
        code, name, sector = item.get("MaTTHC"), item.get("TenTTHC"), item.get("MaLinhVuc")
        if not all(isinstance(v, str) and v for v in (code, name, sector)):
            raise ValueError("a procedure lacks MaTTHC, TenTTHC or MaLinhVuc")

        def text(key: str) -> str | None:
            value = item.get(key)
            return value if isinstance(value, str) and value else None

        def number(key: str) -> int | None:
            value = item.get(key)
            if isinstance(value, bool):
                return None
            if isinstance(value, int):
                return value
            if isinstance(value, str) and value.isdigit():
                return int(value)
            return None

        return cls(
            code=str(code),
            name=str(name),
            sector_code=str(sector),
            sector_name=text("TenLinhVuc"),
            agency=text("CoQuanQuanLy"),
            level=text("CapThucHien"),
            processing_days=number("ThoiHanGiaiQuyet"),
            fee_vnd=number("LePhi"),
        )


class PortalConnector(RestConnector):
    """Pushes dossiers and their progress to the portal and reads what it holds."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        signer: HttpSigner,
        verifier: HttpVerifier,
        username: str,
        password: str,
        agency_code: str,
        transport: Transport | None = None,
        recorder: ExchangeRecorder | None = None,
        resilience: Resilience | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        session_margin: float = 60.0,
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
            operations=tuple(sorted(wire.SERVICES)),
        )
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._username = username
        self._password = password
        self.agency_code = agency_code
        self.batch_size = batch_size
        self.sessions = CachedSecret(self._login, margin=session_margin, clock=clock)

    secret_fields = ("session", "password")

    # ------------------------------------------------------------------------------ errors

    def answer_outcome(self, status: int, body: bytes) -> str | None:
        """The portal's own answer: ``None`` (ok) for ``error_code`` 0 with every item of a
        batch accepted; else the stable names of the codes (``NOT_FOUND``; a batch whose items
        were refused for several reasons ``NOT_FOUND+OUT_OF_ORDER``); HTTP when there is no
        ``error_code`` to read."""
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or "error_code" not in payload:
            return super().answer_outcome(status, body) or "malformed_answer"
        codes = [_code_text(payload.get("error_code"))]
        results = payload.get("results")
        if isinstance(results, list):
            codes += [_code_text(r.get("error_code")) for r in results if isinstance(r, dict)]
        names = list(dict.fromkeys(_fault_name(code) for code in codes if code != "0"))
        return "+".join(names)[:OUTCOME_MAX] if names else None

    def error_for_code(
        self, operation: str, error_code: object, ctx: CallContext, status: int
    ) -> ConnectorError:
        """The error a non-zero ``error_code`` names (unknown codes: ``UpstreamRejected``)."""
        raw = _code_text(error_code)
        fault, cls = ERROR_CODES.get(raw, (f"PORTAL_{raw}", UpstreamRejected))
        return cls(
            f"{self.name}: {operation} answered error_code {raw} ({fault})",
            upstream=self.name,
            message_id=ctx.message_id,
            fault_code=fault,
            status=status,
        )

    def _malformed(self, operation: str, ctx: CallContext, status: int) -> BadUpstreamResponse:
        return BadUpstreamResponse(
            f"{self.name}: {operation} answer does not have the portal's shape",
            upstream=self.name,
            message_id=ctx.message_id,
            fault_code="malformed_answer",
            status=status,
        )

    def _answer(self, operation: str, reply: RestReply, ctx: CallContext) -> dict[str, Any]:
        """The JSON object of a verified reply; HTTP errors without one are mapped by status."""
        try:
            payload = reply.json()
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or "error_code" not in payload:
            if reply.status != 200:
                raise self.error_for_status(operation, reply, ctx)
            raise self._malformed(operation, ctx, reply.status)
        return payload

    # ------------------------------------------------------------------------------ session

    async def _login(self, time_limit: float, call: CallContext) -> tuple[str, float]:
        ctx = CallContext.new(call.client)
        reply = await self.exchange(
            LOGIN,
            "POST",
            self.config.url(LOGIN_PATH),
            ctx,
            time_limit=time_limit,
            body=encode_json({"username": self._username, "password": self._password}),
            headers={"dstcode": self.agency_code},
        )
        payload = self._answer(LOGIN, reply, ctx)
        if not wire.is_success(payload.get("error_code")):
            raise self.error_for_code(LOGIN, payload.get("error_code"), ctx, reply.status)
        session = read_secret(payload, "session", DEFAULT_SESSION_LIFETIME)
        if session is None:
            raise self._malformed(LOGIN, ctx, reply.status)
        return session

    # ------------------------------------------------------------------------------ calling

    async def call_service(
        self,
        service: str,
        fields: dict[str, Any],
        ctx: CallContext,
        *,
        deadline: float | None = None,
        retry: bool = True,
    ) -> dict[str, Any]:
        """POST one portal service call and return its answer (``error_code`` not judged).

        An expired session is renewed and the call sent once more; a transient answer ("9",
        502/503/504, a timeout) is retried by the upstream's policy unless ``retry`` is False.
        """
        attempts = 0

        async def attempt(time_limit: float) -> dict[str, Any]:
            nonlocal attempts
            attempts += 1

            async def send(session: str) -> tuple[RestReply, dict[str, Any]]:
                body = {"session": session, "madonvi": self.agency_code, "service": service}
                body.update(fields)
                reply = await self.exchange(
                    service,
                    "POST",
                    self.config.url(API_PATH),
                    ctx,
                    time_limit=time_limit,
                    body=encode_json(body),
                    attempt=attempts,
                )
                return reply, self._answer(service, reply, ctx)

            reply, payload = await self.sessions.call_with_renewal(
                time_limit, ctx, send, _session_expired
            )
            code = _code_text(payload.get("error_code"))
            if code != "0" and "results" not in payload:
                raise self.error_for_code(service, code, ctx, reply.status)
            return payload

        return await self.resilience.call(
            attempt, message_id=ctx.message_id, deadline=deadline, retry=retry
        )

    # ------------------------------------------------------------------------------ services

    async def lookup_dossier(
        self, code: str, ctx: CallContext, *, deadline: float | None = None
    ) -> PortalDossier | None:
        """What the portal holds under ``code``, or ``None`` when it holds nothing."""
        payload = await self.call_service(
            wire.TRA_CUU_HO_SO, {"mahoso": code}, ctx, deadline=deadline
        )
        result = payload.get("result")
        if result in (None, "", []):
            return None
        records = [result] if isinstance(result, dict) else result
        if not isinstance(records, list):
            raise self._malformed(wire.TRA_CUU_HO_SO, ctx, 200)
        for record in records:
            if isinstance(record, dict) and record.get("MaHoSo") == code:
                try:
                    fields = {k: v for k, v in record.items() if k != wire.HELD_PROGRESS_KEY}
                    dossier = wire.dossier_from_portal(fields)
                    steps = tuple(wire.held_progress(record))
                except (InvalidWireRecord, SchemaError) as exc:
                    raise self._malformed(wire.TRA_CUU_HO_SO, ctx, 200) from exc
                return PortalDossier(dossier.code, dossier.status, dossier, steps)
        return None

    def _batch(
        self, service: str, payload: dict[str, Any], expected: int, ctx: CallContext
    ) -> list[ItemResult]:
        results = payload.get("results")
        if not isinstance(results, list) or len(results) != expected:
            raise self._malformed(service, ctx, 200)
        items = []
        for result in results:
            if not isinstance(result, dict):
                raise self._malformed(service, ctx, 200)
            code = _code_text(result.get("error_code"))
            error = None if code == "0" else self.error_for_code(service, code, ctx, 200)
            dossier_code = result.get("MaHoSo")
            key = result.get("IdempotencyKey")
            items.append(
                ItemResult(
                    dossier_code=dossier_code if isinstance(dossier_code, str) else None,
                    idempotency_key=key if isinstance(key, str) else None,
                    error=error,
                    duplicate=result.get("duplicate") is True,
                )
            )
        return items

    async def sync_dossiers(
        self,
        dossiers: Iterable[Dossier],
        *,
        is_updating: bool,
        ctx: CallContext,
        deadline: float | None = None,
    ) -> BatchResult:
        """Create (``is_updating=False``) or update dossiers on the portal, in batches.

        Returns one result per dossier, in order; a refused dossier does not fail the others.
        """
        fields = {"isUpdating": "true" if is_updating else "false"}
        records = [self._convert(wire.dossier_to_portal, d, d.code, ctx) for d in dossiers]
        return await self._send_batch(wire.DONG_BO_HO_SO_MC, fields, records, ctx, deadline, True)

    async def push_progress(
        self,
        steps: Iterable[wire.ProgressStep],
        ctx: CallContext,
        *,
        deadline: float | None = None,
    ) -> BatchResult:
        """Send progress records, once: a call that fails is not retried here (the portal would
        apply a record sent twice twice); the caller reads back before it sends again.

        Returns one result per step, in order.
        """
        records = [
            self._convert(wire.step_to_portal, step, step.event.dossier_code, ctx) for step in steps
        ]
        return await self._send_batch(
            wire.CAP_NHAT_TIEN_DO_HO_SO_MC, {}, records, ctx, deadline, False
        )

    def _convert(
        self, write: Any, value: Any, code: str, ctx: CallContext
    ) -> dict[str, str] | ItemResult:
        """The wire record of ``value``, or the refusal of a record the portal cannot hold."""
        try:
            return write(value)  # type: ignore[no-any-return]
        except (SchemaError, ValueError, OverflowError) as exc:
            error = InvalidRequest(
                f"{self.name}: the record cannot be written in the portal's form "
                f"({type(exc).__name__})",
                upstream=self.name,
                message_id=ctx.message_id,
                fault_code="UNCONVERTIBLE",
            )
            return ItemResult(dossier_code=code, idempotency_key=None, error=error)

    async def _send_batch(
        self,
        service: str,
        fields: dict[str, Any],
        converted: list[dict[str, str] | ItemResult],
        ctx: CallContext,
        deadline: float | None,
        retry: bool,
    ) -> BatchResult:
        records = [r for r in converted if not isinstance(r, ItemResult)]
        sent: list[ItemResult] = []
        for chunk in _chunks(records, self.batch_size):
            payload = await self.call_service(
                service, {**fields, "data": chunk}, ctx, deadline=deadline, retry=retry
            )
            sent += self._batch(service, payload, len(chunk), ctx)
        answers = iter(sent)
        return BatchResult(
            tuple(r if isinstance(r, ItemResult) else next(answers) for r in converted)
        )

    async def list_procedures(
        self, ctx: CallContext, *, sector_code: str | None = None, deadline: float | None = None
    ) -> list[Procedure]:
        """The portal's catalogue of procedures (of one sector when ``sector_code`` is given)."""
        fields = {} if sector_code is None else {"maLinhVuc": sector_code}
        payload = await self.call_service(wire.LAY_DANH_SACH_TTHC, fields, ctx, deadline=deadline)
        result = payload.get("result")
        if not isinstance(result, list):
            raise self._malformed(wire.LAY_DANH_SACH_TTHC, ctx, 200)
        try:
            return [Procedure.from_portal(item) for item in result]
        except ValueError as exc:
            raise self._malformed(wire.LAY_DANH_SACH_TTHC, ctx, 200) from exc

    async def get_procedure(
        self, code: str, ctx: CallContext, *, deadline: float | None = None
    ) -> Procedure:
        """One procedure of the catalogue (``NotFound`` when the portal does not know it)."""
        payload = await self.call_service(
            wire.LAY_THU_TUC, {"maTTHC": code}, ctx, deadline=deadline
        )
        try:
            return Procedure.from_portal(payload.get("result"))
        except ValueError as exc:
            raise self._malformed(wire.LAY_THU_TUC, ctx, 200) from exc


def _chunks(records: Sequence[dict[str, str]], size: int) -> Iterable[list[dict[str, str]]]:
    for start in range(0, len(records), size):
        yield list(records[start : start + size])


__all__ = [
    "ERROR_CODES",
    "BatchResult",
    "ItemResult",
    "PortalConnector",
    "PortalDossier",
    "Procedure",
]
