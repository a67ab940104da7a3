"""The National Public Service Portal mock: REST/JSON shaped like its integration API.

``POST /portal/login``
    JSON ``{"username", "password"}`` and a ``dstcode`` header (the calling unit) →
    ``{"error_code": "0", "session", "expires_in"}``.
``POST /portal/api``
    JSON ``{"session", "madonvi", "service", …}``; ``madonvi`` must be the unit the session
    logged in for (its ``dstcode``), else ``error_code`` "8" and nothing is read or changed;
    ``service`` one of

    - ``TraCuuHoSo`` (``mahoso``) → ``result``: the dossier held with its progress records
      (``QuaTrinhXuLy``), or ``[]``;
    - ``DongBoHoSoMC`` (``isUpdating``, ``data: [dossier records]``) → ``results`` per record;
    - ``CapNhatTienDoHoSoMC`` (``data: [progress records]``) → ``results`` per record; every
      record is applied as it comes (twice when sent twice) unless the mock runs with ``dedup``;
    - ``LayThuTuc`` (``maTTHC``) → ``result``: one procedure;
    - ``LayDanhSachTTHC`` (optional ``maLinhVuc``) → ``result``: the catalogue.

Answers carry ``error_code`` (:mod:`mock_endpoints.portal_state` lists the codes) and
``message``; protocol errors are HTTP 200 with a non-zero ``error_code``, as the portal does;
a bad signature is HTTP 401 with ``error_code`` "7", unavailability HTTP 503 with "9".
Requests and answers are RFC 9421 signed (party ``portal``).
"""

from __future__ import annotations

import json
from typing import Any

from mock_endpoints import portal_state as codes
from mock_endpoints.errors import PortalError
from mock_endpoints.portal_state import PortalState, batch_error_code
from mock_endpoints.rest import Call, RestAnswer
from schemas.wire.portal import (
    CAP_NHAT_TIEN_DO_HO_SO_MC,
    DONG_BO_HO_SO_MC,
    LAY_DANH_SACH_TTHC,
    LAY_THU_TUC,
    SERVICES,
    TRA_CUU_HO_SO,
    lookup_answer,
)
from security.errors import SecurityError

UPSTREAM = "portal"
LOGIN_PATH = "/portal/login"
API_PATH = "/portal/api"
#: the services that change what the portal holds (the ones a drop fault applies to)
WRITES = frozenset({DONG_BO_HO_SO_MC, CAP_NHAT_TIEN_DO_HO_SO_MC})


def portal_answer(error_code: str, message: str, status: int = 200, **extra: Any) -> RestAnswer:
    """``{"error_code", "message", …}``."""
    return RestAnswer(status, {"error_code": error_code, "message": message, **extra})


def signature_error(exc: SecurityError) -> RestAnswer:
    """HTTP 401, ``error_code`` "7", saying why (the reason code, never request content)."""
    return portal_answer(
        codes.BAD_SIGNATURE,
        f"request signature not acceptable: {exc.message} ({exc.reason})",
        status=401,
    )


def unavailable() -> RestAnswer:
    """HTTP 503, ``error_code`` "9" (fault injection)."""
    return RestAnswer(
        503,
        {"error_code": codes.UNAVAILABLE, "message": "the portal is temporarily unavailable"},
        {"retry-after": "1"},
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PortalError(codes.INVALID_INPUT, "the body is not JSON") from exc
    if not isinstance(payload, dict):
        raise PortalError(codes.INVALID_INPUT, "the body must be a JSON object")
    return payload


def is_write(body: bytes) -> bool:
    """True when ``body`` calls a service that changes the portal (a drop fault applies)."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(payload, dict) and payload.get("service") in WRITES


def _flag(value: object) -> bool:
    if value is None or value is False or value == "":
        return False
    if value is True:
        return True
    if isinstance(value, str) and value.strip().lower() in ("true", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise PortalError(codes.INVALID_INPUT, "isUpdating must be true or false")


def _field(payload: dict[str, Any], *names: str) -> object:
    lowered = {key.lower(): value for key, value in payload.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


class PortalService:
    """Login and integration-call handlers of the portal mock."""

    def __init__(self, state: PortalState) -> None:
        self.state = state

    async def login(self, call: Call) -> RestAnswer:
        """``POST /portal/login``."""
        try:
            payload = _json_object(call.body)
            username, password = payload.get("username"), payload.get("password")
            if not isinstance(username, str) or not isinstance(password, str):
                raise PortalError(codes.INVALID_INPUT, "username and password are required")
            dstcode = call.request.headers.get("dstcode", "").strip()
            session = self.state.login(username, password, dstcode)
        except PortalError as exc:
            return portal_answer(exc.error_code, exc.message)
        return portal_answer(
            codes.OK,
            "Thành công",
            session=session.token,
            expires_in=int(self.state.session_ttl),
        )

    async def api(self, call: Call) -> RestAnswer:
        """``POST /portal/api``."""
        try:
            payload = _json_object(call.body)
            session = self.state.check_session(payload.get("session"))
            madonvi = payload.get("madonvi")
            if not isinstance(madonvi, str) or not madonvi.strip():
                raise PortalError(codes.INVALID_INPUT, "madonvi is required")
            session.check_unit(madonvi)
            service = payload.get("service")
            if service not in SERVICES:
                raise PortalError(codes.INVALID_INPUT, "service is not one the portal offers")
            return self._dispatch(str(service), payload)
        except PortalError as exc:
            return portal_answer(exc.error_code, exc.message)

    def _dispatch(self, service: str, payload: dict[str, Any]) -> RestAnswer:
        if service == TRA_CUU_HO_SO:
            found = self.state.lookup(_field(payload, "mahoso"))
            answer = lookup_answer([d for d, _ in found], [steps for _, steps in found])
            return RestAnswer(200, answer)
        if service == DONG_BO_HO_SO_MC:
            updating = _flag(_field(payload, "isUpdating"))
            results = self.state.sync_dossiers(payload.get("data"), is_updating=updating)
            return self._batch(results)
        if service == CAP_NHAT_TIEN_DO_HO_SO_MC:
            return self._batch(self.state.update_progress(payload.get("data")))
        if service == LAY_THU_TUC:
            procedure = self.state.procedure(_field(payload, "maTTHC"))
            return portal_answer(codes.OK, "Thành công", result=procedure.to_wire())
        if service == LAY_DANH_SACH_TTHC:
            catalogue = self.state.procedures(_field(payload, "maLinhVuc"))
            return portal_answer(
                codes.OK, "Thành công", result=[procedure.to_wire() for procedure in catalogue]
            )
        raise PortalError(codes.INVALID_INPUT, "service is not one the portal offers")

    @staticmethod
    def _batch(results: list[dict[str, Any]]) -> RestAnswer:
        error_code = batch_error_code(results)
        failed = sum(1 for result in results if result["error_code"] != codes.OK)
        message = "Thành công" if not failed else f"{failed} of {len(results)} records failed"
        return portal_answer(error_code, message, results=results)


__all__ = [
    "API_PATH",
    "LOGIN_PATH",
    "WRITES",
    "PortalService",
    "is_write",
    "portal_answer",
    "signature_error",
    "unavailable",
]
