"""What the portal mock holds: sessions, dossiers, progress updates — and the portal's rules.

Thread-safe, in memory. The HTTP layer (:mod:`mock_endpoints.portal`) turns calls into the
methods here and answers with their results.

``error_code`` values (strings, as the portal writes them)::

    "0"   success
    "-1"  session missing, unknown or expired: log in again
    "1"   invalid input (malformed JSON, a record that does not map, a bad dossier code …)
    "2"   not found (updating a dossier the portal does not hold, progress for one, a procedure)
    "3"   already exists (creating a dossier it holds; an idempotency key reused for another step)
    "4"   illegal status move (the dossier lifecycle of ``schemas.status`` refuses it)
    "5"   out of order (kept for compatibility: the portal refuses nothing for its order)
    "6"   wrong credentials (login)
    "7"   bad or missing signature (RFC 9421)
    "8"   ``madonvi`` is not the unit the session was opened for (its login's ``dstcode``)
    "9"   internal error / temporarily unavailable (fault injection, HTTP 503)

Batch services (``DongBoHoSoMC``, ``CapNhatTienDoHoSoMC``) answer one result per item in
``results`` (``{"MaHoSo", "error_code", "message"}``), so a batch can partly fail; the top-level
``error_code`` is "0" when every item succeeded and otherwise the code of the first item that
failed.

Progress records are the real portal's (``schemas.wire.portal.PROGRESS_KEYS``): no sequence, no
idempotency key. Like the real one, the mock applies every record it is sent, in the order it
arrives: a step sent twice is held twice, and nothing is refused for its order or its status
move. ``dedup=True`` (``lienthong mock serve --portal-dedup``) turns on the old behaviour for
comparison: a record identical to one already held (``step_identity``) is acknowledged
(``"duplicate": true``) and not applied again. Either way every held step counts how many times
an identical record arrived, and ``TraCuuHoSo`` lists the held steps (``QuaTrinhXuLy``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mock_endpoints.errors import PortalError
from mock_endpoints.procedures import PROCEDURES, Procedure
from mock_endpoints.settings import PORTAL_USERS
from schemas.dossier_code import validate_dossier_code
from schemas.errors import IllegalTransition, InvalidWireRecord, SchemaError
from schemas.models import Dossier
from schemas.status import check_transition
from schemas.wire.portal import (
    dossier_from_portal,
    dossier_to_portal,
    progress_from_portal,
    step_identity,
)

OK = "0"
SESSION_EXPIRED = "-1"
INVALID_INPUT = "1"
NOT_FOUND = "2"
ALREADY_EXISTS = "3"
ILLEGAL_MOVE = "4"
OUT_OF_ORDER = "5"
BAD_CREDENTIALS = "6"
BAD_SIGNATURE = "7"
UNIT_MISMATCH = "8"
UNAVAILABLE = "9"

MAX_BATCH = 500


@dataclass(frozen=True)
class Session:
    """A portal session: its token, the unit that logged in and when it expires (monotonic)."""

    token: str
    username: str
    dstcode: str
    expires_at: float

    def check_unit(self, madonvi: str) -> None:
        """``PortalError`` "8" unless ``madonvi`` is the unit this session logged in for.

        A session opened for one unit neither reads nor writes another unit's dossiers. The
        message names neither unit.
        """
        if madonvi.strip() != self.dstcode:
            raise PortalError(UNIT_MISMATCH, "madonvi is not the unit this session was opened for")


@dataclass
class ProgressEntry:
    """One progress record the portal holds, and how many identical records arrived in all."""

    record: dict[str, str]
    applied_at: str
    arrived: int = 1

    def to_json(self) -> dict[str, Any]:
        """The entry as the admin route shows it: the record, when applied, arrivals."""
        return {**self.record, "applied_at": self.applied_at, "arrived": self.arrived}


@dataclass
class HeldDossier:
    """A dossier as the portal holds it, with the progress applied to it."""

    dossier: Dossier
    created_at: str
    updated_at: str
    sync_count: int = 1
    progress: list[ProgressEntry] = field(default_factory=list)

    def arrivals(self, identity: tuple[str, ...]) -> list[ProgressEntry]:
        """The held entries identical to ``identity``."""
        return [entry for entry in self.progress if step_identity(entry.record) == identity]

    def to_json(self) -> dict[str, Any]:
        """The dossier as the admin route shows it (wire record, status, progress, counters).

        ``progress`` lists every step held, in order of arrival, each with ``arrived``: how many
        identical records reached the portal (a step applied twice is listed twice).
        """
        return {
            "dossier": dossier_to_portal(self.dossier),
            "status": int(self.dossier.status),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "sync_count": self.sync_count,
            "progress": [entry.to_json() for entry in self.progress],
            "repeated": sum(1 for entry in self.progress if entry.arrived > 1),
        }


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _result(code: str | None, error_code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"MaHoSo": code, "error_code": error_code, "message": message, **extra}


def _problems(exc: InvalidWireRecord) -> str:
    problems = getattr(exc, "problems", ()) or ()
    return exc.message + (": " + "; ".join(problems) if problems else "")


class PortalState:
    """Sessions, dossiers and progress of the portal mock (thread-safe)."""

    def __init__(
        self,
        *,
        procedures: Iterable[Procedure] = PROCEDURES,
        session_ttl: float = 1800.0,
        users: Mapping[str, str] = PORTAL_USERS,
        clock: Callable[[], float] = time.monotonic,
        dedup: bool = False,
    ) -> None:
        self.dedup = dedup
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._dossiers: dict[str, HeldDossier] = {}
        self._procedures = {procedure.code: procedure for procedure in procedures}
        self._users = dict(users)
        self._clock = clock
        self.session_ttl = session_ttl

    # -- sessions ----------------------------------------------------------------------------

    def login(self, username: str, password: str, dstcode: str) -> Session:
        """A new session for a known user; ``PortalError`` "6" for wrong credentials."""
        if not dstcode:
            raise PortalError(INVALID_INPUT, "the dstcode header is required")
        expected = self._users.get(username)
        if expected is None or not secrets.compare_digest(expected, password):
            raise PortalError(BAD_CREDENTIALS, "wrong username or password")
        session = Session(
            token=secrets.token_urlsafe(24),
            username=username,
            dstcode=dstcode,
            expires_at=self._clock() + self.session_ttl,
        )
        with self._lock:
            now = self._clock()
            for token in [t for t, s in self._sessions.items() if s.expires_at <= now]:
                del self._sessions[token]
            self._sessions[session.token] = session
        return session

    def check_session(self, token: object) -> Session:
        """The live session ``token`` names; ``PortalError`` "-1" when absent or expired."""
        if not isinstance(token, str) or not token:
            raise PortalError(SESSION_EXPIRED, "no session: log in first")
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                raise PortalError(SESSION_EXPIRED, "unknown session: log in again")
            if session.expires_at <= self._clock():
                del self._sessions[token]
                raise PortalError(SESSION_EXPIRED, "the session has expired: log in again")
            return session

    def expire_sessions(self) -> int:
        """End every session now (tests, admin); returns how many there were."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
            return count

    # -- dossiers ----------------------------------------------------------------------------

    def sync_dossiers(self, items: object, *, is_updating: bool) -> list[dict[str, Any]]:
        """``DongBoHoSoMC``: create (``is_updating`` false) or update dossiers; one result each."""
        records = _batch(items)
        results = []
        for record in records:
            results.append(self._sync_one(record, is_updating=is_updating))
        return results

    def _sync_one(self, record: object, *, is_updating: bool) -> dict[str, Any]:
        code = record.get("MaHoSo") if isinstance(record, Mapping) else None
        code = code if isinstance(code, str) else None
        try:
            dossier = dossier_from_portal(record)  # type: ignore[arg-type]
        except InvalidWireRecord as exc:
            return _result(code, INVALID_INPUT, _problems(exc))
        now = _now_text()
        with self._lock:
            held = self._dossiers.get(dossier.code)
            if not is_updating:
                if held is not None:
                    return _result(
                        dossier.code, ALREADY_EXISTS, "the dossier exists: send isUpdating=true"
                    )
                self._dossiers[dossier.code] = HeldDossier(dossier, created_at=now, updated_at=now)
                return _result(dossier.code, OK, "created")
            if held is None:
                return _result(
                    dossier.code, NOT_FOUND, "no such dossier to update: send isUpdating=false"
                )
            old, new = held.dossier.status, dossier.status
            if old != new:
                try:
                    check_transition(old, new)
                except IllegalTransition as exc:
                    return _result(dossier.code, ILLEGAL_MOVE, exc.message)
            held.dossier = dossier
            held.updated_at = now
            held.sync_count += 1
            return _result(dossier.code, OK, "updated")

    def update_progress(self, items: object) -> list[dict[str, Any]]:
        """``CapNhatTienDoHoSoMC``: apply each progress record as it comes; one result each."""
        return [self._progress_one(record) for record in _batch(items)]

    def _progress_one(self, record: object) -> dict[str, Any]:
        code = record.get("MaHoSo") if isinstance(record, Mapping) else None
        code = code if isinstance(code, str) else None
        try:
            step = progress_from_portal(record)  # type: ignore[arg-type]
        except InvalidWireRecord as exc:
            return _result(code, INVALID_INPUT, _problems(exc))
        with self._lock:
            held = self._dossiers.get(step.dossier_code)
            if held is None:
                return _result(step.dossier_code, NOT_FOUND, "no such dossier")
            same = held.arrivals(step.identity)
            for entry in same:
                entry.arrived += 1
            if same and self.dedup:
                return _result(step.dossier_code, OK, "already applied", duplicate=True)
            entry = ProgressEntry(step.record, applied_at=_now_text(), arrived=len(same) + 1)
            for earlier in same:
                earlier.arrived = entry.arrived
            held.progress.append(entry)
            updated_at = max(held.dossier.updated_at, step.occurred_at)
            held.dossier = held.dossier.model_copy(
                update={"status": step.status, "updated_at": updated_at}
            )
            held.updated_at = entry.applied_at
            return _result(step.dossier_code, OK, "applied", duplicate=False)

    def lookup(self, code: object) -> list[tuple[Dossier, list[dict[str, str]]]]:
        """``TraCuuHoSo``: the dossier held under ``code`` with its progress records, in order
        of arrival (an empty list when none)."""
        if not isinstance(code, str):
            raise PortalError(INVALID_INPUT, "mahoso must be a dossier code")
        try:
            validate_dossier_code(code)
        except SchemaError as exc:
            raise PortalError(INVALID_INPUT, exc.message) from exc
        with self._lock:
            held = self._dossiers.get(code)
            if held is None:
                return []
            return [(held.dossier, [dict(entry.record) for entry in held.progress])]

    def held(self, code: str) -> dict[str, Any] | None:
        """What the portal holds for ``code`` (admin view), or None."""
        with self._lock:
            held = self._dossiers.get(code)
            return None if held is None else held.to_json()

    def dossier_codes(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The dossiers held: code, status and progress count, in order of arrival."""
        with self._lock:
            items = list(self._dossiers.items())
        if limit is not None:
            items = items[:limit]
        return [
            {"MaHoSo": code, "status": int(held.dossier.status), "progress": len(held.progress)}
            for code, held in items
        ]

    def forget(self, code: str) -> bool:
        """Lose one dossier and its progress (tests: a portal that lost a dossier)."""
        with self._lock:
            return self._dossiers.pop(code, None) is not None

    def clear(self) -> int:
        """Forget every dossier (tests); returns how many there were."""
        with self._lock:
            count = len(self._dossiers)
            self._dossiers.clear()
            return count

    # -- procedures --------------------------------------------------------------------------

    def procedure(self, code: object) -> Procedure:
        """``LayThuTuc``: one procedure; ``PortalError`` "2" when unknown."""
        if not isinstance(code, str) or not code:
            raise PortalError(INVALID_INPUT, "maTTHC is required")
        found = self._procedures.get(code)
        if found is None:
            raise PortalError(NOT_FOUND, "no such procedure")
        return found

    def procedures(self, sector_code: object = None) -> list[Procedure]:
        """``LayDanhSachTTHC``: the catalogue, optionally one sector's procedures."""
        if sector_code in (None, ""):
            return list(self._procedures.values())
        return [p for p in self._procedures.values() if p.sector_code == sector_code]


def _batch(items: object) -> list[object]:
    if not isinstance(items, list):
        raise PortalError(INVALID_INPUT, "data must be a list of records")
    if not items:
        raise PortalError(INVALID_INPUT, "data must not be empty")
    if len(items) > MAX_BATCH:
        raise PortalError(INVALID_INPUT, f"data holds more than {MAX_BATCH} records")
    return items


def batch_error_code(results: list[dict[str, Any]]) -> str:
    """The top-level ``error_code`` of a batch: "0", or the first failed item's code."""
    for result in results:
        if result["error_code"] != OK:
            return str(result["error_code"])
    return OK


__all__ = [
    "ALREADY_EXISTS",
    "BAD_CREDENTIALS",
    "BAD_SIGNATURE",
    "ILLEGAL_MOVE",
    "INVALID_INPUT",
    "NOT_FOUND",
    "OK",
    "OUT_OF_ORDER",
    "SESSION_EXPIRED",
    "UNAVAILABLE",
    "UNIT_MISMATCH",
    "HeldDossier",
    "PortalState",
    "ProgressEntry",
    "Session",
    "batch_error_code",
]
