"""National Public Service Portal JSON ⇄ ``Dossier`` / ``DossierEvent``.

Requests are ``{"session", "madonvi", "service", …}`` with ``service`` one of ``SERVICES``:

- ``DongBoHoSoMC`` (``isUpdating`` "true"/"false", ``data`` a list of dossier records)::

      {"MaHoSo", "MaTTHC", "MaDonVi", "MaLinhVuc", "TenHoSo", "ChuHoSo", "SoGiayToChuHoSo",
       "TrangThaiHoSo", "NgayTiepNhan", "NgayHenTra", "NgayCapNhat",
       "NguoiLienQuan": [{"SoGiayTo", "QuanHe"}, …]}

  ``NguoiLienQuan`` (*người liên quan*, persons concerned) lists the citizens the dossier
  concerns besides its applicant: ``SoGiayTo`` their CCCD, as ``SoGiayToChuHoSo`` names the
  applicant's, and ``QuanHe`` how they are concerned, one of the ``PersonRole`` codes
  (``child``, ``spouse``, ``parent``, ``deceased``, ``guardian``, ``ward``, ``representative``,
  ``other``). Written ``[]`` when there are none; read from a list, ``""``, ``null`` or a
  missing key.

- ``CapNhatTienDoHoSoMC`` (``data`` a list of progress records, the shape the open-source
  one-stop shop OpenCPS sends)::

      {"MaHoSo", "NguoiXuLy", "ChucDanh", "ThoiDiemXuLy", "PhongBanXuLy", "NoiDungXuLy",
       "TrangThai", "NgayBatDau", "NgayKetThucTheoQuyDinh"}

  A record carries neither a sequence number nor an idempotency key: the portal cannot tell a
  step sent twice from two steps, so a sender must not send one twice (``sync`` reads back).
  ``NgayBatDau`` / ``NgayKetThucTheoQuyDinh`` are the dossier's receipt and due times.

- ``TraCuuHoSo`` (``mahoso``): the answer's ``result`` lists dossier records as above, each with
  ``QuaTrinhXuLy``: the progress records the portal holds for it, in the order they arrived.

Every answer carries ``error_code``; 0, "0" and "00" mean success (``is_success``). Times are
``yyyyMMddHHmmss`` in Vietnam time (seconds precision: sub-second parts do not survive the wire);
status codes and ``ThuTu`` are written as digit strings and read from strings or integers;
an absent optional value is written ``""`` and read from ``""``, ``null`` or a missing key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from schemas.dossier_code import validate_dossier_code
from schemas.errors import InvalidWireRecord, SchemaError
from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.times import from_portal_time, to_portal_time
from schemas.wire.validation import build_model

TRA_CUU_HO_SO: Final = "TraCuuHoSo"
DONG_BO_HO_SO_MC: Final = "DongBoHoSoMC"
CAP_NHAT_TIEN_DO_HO_SO_MC: Final = "CapNhatTienDoHoSoMC"
LAY_THU_TUC: Final = "LayThuTuc"
LAY_DANH_SACH_TTHC: Final = "LayDanhSachTTHC"
SERVICES: Final = frozenset(
    {TRA_CUU_HO_SO, DONG_BO_HO_SO_MC, CAP_NHAT_TIEN_DO_HO_SO_MC, LAY_THU_TUC, LAY_DANH_SACH_TTHC}
)

_DOSSIER_KEYS = {
    "code": "MaHoSo",
    "procedure_code": "MaTTHC",
    "agency_code": "MaDonVi",
    "sector_code": "MaLinhVuc",
    "title": "TenHoSo",
    "applicant_name": "ChuHoSo",
    "applicant_id": "SoGiayToChuHoSo",
    "status": "TrangThaiHoSo",
    "received_at": "NgayTiepNhan",
    "due_at": "NgayHenTra",
    "updated_at": "NgayCapNhat",
}
#: the keys of a progress record, in the order they are written
PROGRESS_KEYS: Final = (
    "MaHoSo",
    "NguoiXuLy",
    "ChucDanh",
    "ThoiDiemXuLy",
    "PhongBanXuLy",
    "NoiDungXuLy",
    "TrangThai",
    "NgayBatDau",
    "NgayKetThucTheoQuyDinh",
)
#: the keys that say which step a record is (the two dates come from the dossier and may move)
STEP_IDENTITY_KEYS: Final = PROGRESS_KEYS[:7]
#: the key of a ``TraCuuHoSo`` record that lists the progress records the portal holds
HELD_PROGRESS_KEY: Final = "QuaTrinhXuLy"
_DOSSIER_TIMES = ("received_at", "due_at", "updated_at")
#: the record's list of persons concerned besides the applicant
RELATED_PERSONS_KEY: Final = "NguoiLienQuan"


def is_success(error_code: object) -> bool:
    """True when a portal answer's ``error_code`` means success (0, "0" or "00")."""
    if isinstance(error_code, bool):
        return False
    if isinstance(error_code, int):
        return error_code == 0
    return isinstance(error_code, str) and error_code.strip() in ("0", "00")


# --- canonical -> wire ----------------------------------------------------------------------


def _time_or_empty(value: datetime | None, field: str) -> str:
    return "" if value is None else to_portal_time(value, field=field)


def dossier_to_portal(dossier: Dossier) -> dict[str, Any]:
    """The ``DongBoHoSoMC`` record of ``dossier``."""
    return {
        "MaHoSo": dossier.code,
        "MaTTHC": dossier.procedure_code,
        "MaDonVi": dossier.agency_code,
        "MaLinhVuc": dossier.sector_code,
        "TenHoSo": dossier.title,
        "ChuHoSo": dossier.applicant_name,
        "SoGiayToChuHoSo": dossier.applicant_id,
        "TrangThaiHoSo": str(int(dossier.status)),
        "NgayTiepNhan": to_portal_time(dossier.received_at, field="received_at"),
        "NgayHenTra": _time_or_empty(dossier.due_at, "due_at"),
        "NgayCapNhat": to_portal_time(dossier.updated_at, field="updated_at"),
        RELATED_PERSONS_KEY: [
            {"SoGiayTo": person.citizen_id, "QuanHe": person.role.value}
            for person in dossier.related_persons
        ],
    }


@dataclass(frozen=True, slots=True)
class ProgressStep:
    """A progress step as sent: the event, and its dossier's receipt and due times."""

    event: DossierEvent
    started_at: datetime | None = None
    due_at: datetime | None = None


def event_to_portal(
    event: DossierEvent, *, started_at: datetime | None = None, due_at: datetime | None = None
) -> dict[str, str]:
    """The ``CapNhatTienDoHoSoMC`` progress record of ``event`` (``started_at``: the dossier's
    receipt time → ``NgayBatDau``; ``due_at`` → ``NgayKetThucTheoQuyDinh``)."""
    return {
        "MaHoSo": event.dossier_code,
        "NguoiXuLy": event.officer or "",
        "ChucDanh": "",
        "ThoiDiemXuLy": to_portal_time(event.occurred_at, field="occurred_at"),
        "PhongBanXuLy": "",
        "NoiDungXuLy": event.note or "",
        "TrangThai": str(int(event.status)),
        "NgayBatDau": _time_or_empty(started_at, "received_at"),
        "NgayKetThucTheoQuyDinh": _time_or_empty(due_at, "due_at"),
    }


def step_to_portal(step: ProgressStep) -> dict[str, str]:
    """The progress record of ``step``."""
    return event_to_portal(step.event, started_at=step.started_at, due_at=step.due_at)


def step_identity(record: Mapping[str, Any]) -> tuple[str, ...]:
    """What tells one progress record from another: every key but the dossier's two dates.

    Two records with the same identity are the same step as far as the portal can say.
    """
    return tuple(_text(record.get(key)) for key in STEP_IDENTITY_KEYS)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)


def sync_request(
    session: str, agency_code: str, dossiers: Iterable[Dossier], *, is_updating: bool
) -> dict[str, Any]:
    """A ``DongBoHoSoMC`` request body."""
    return {
        "session": session,
        "madonvi": agency_code,
        "service": DONG_BO_HO_SO_MC,
        "isUpdating": "true" if is_updating else "false",
        "data": [dossier_to_portal(dossier) for dossier in dossiers],
    }


def progress_request(
    session: str, agency_code: str, steps: Iterable[ProgressStep]
) -> dict[str, Any]:
    """A ``CapNhatTienDoHoSoMC`` request body."""
    return {
        "session": session,
        "madonvi": agency_code,
        "service": CAP_NHAT_TIEN_DO_HO_SO_MC,
        "data": [step_to_portal(step) for step in steps],
    }


def lookup_request(session: str, agency_code: str, dossier_code: str) -> dict[str, Any]:
    """A ``TraCuuHoSo`` request body."""
    return {
        "session": session,
        "madonvi": agency_code,
        "service": TRA_CUU_HO_SO,
        "mahoso": dossier_code,
    }


def lookup_answer(
    dossiers: Sequence[Dossier], progress: Sequence[Sequence[Mapping[str, str]]] | None = None
) -> dict[str, Any]:
    """A successful ``TraCuuHoSo`` answer listing ``dossiers`` (empty when none is known), each
    with the progress records held for it (``progress[i]`` for ``dossiers[i]``) when given."""
    result: list[dict[str, Any]] = []
    for index, dossier in enumerate(dossiers):
        record: dict[str, Any] = dict(dossier_to_portal(dossier))
        if progress is not None:
            record[HELD_PROGRESS_KEY] = [dict(step) for step in progress[index]]
        result.append(record)
    return {"error_code": "0", "message": "Thành công", "result": result}


# --- wire -> canonical ----------------------------------------------------------------------


def _record(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidWireRecord(f"{what} must be a JSON object", field=what)
    return value


def _optional(value: object) -> object:
    return None if value is None or value == "" else value


def status_from_portal(value: object, *, field: str = "TrangThaiHoSo") -> DossierStatus:
    """The ``DossierStatus`` a ``TrangThaiHoSo`` value (1–10, as a string or an integer) names."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    try:
        if number is None:
            raise ValueError(field)
        return DossierStatus(number)
    except ValueError as exc:
        raise InvalidWireRecord(f"{field} must be a status code 1-10", field=field) from exc


def _time(value: object, key: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidWireRecord(f"{key} must be a string yyyyMMddHHmmss", field=key)
    try:
        return from_portal_time(value, field=key)
    except SchemaError as exc:
        raise InvalidWireRecord(exc.message, field=key) from exc


def dossier_from_portal(record: Mapping[str, Any]) -> Dossier:
    """The ``Dossier`` of a ``DongBoHoSoMC`` / ``TraCuuHoSo`` record."""
    record = _record(record, "dossier record")
    data: dict[str, Any] = {
        field: _optional(record.get(key)) for field, key in _DOSSIER_KEYS.items()
    }
    data["status"] = status_from_portal(record.get("TrangThaiHoSo"))
    for field in _DOSSIER_TIMES:
        if data[field] is not None:
            data[field] = _time(data[field], _DOSSIER_KEYS[field])
    data["related_persons"] = _related_persons(record.get(RELATED_PERSONS_KEY))
    names = {**_DOSSIER_KEYS, "related_persons": RELATED_PERSONS_KEY}
    return build_model(Dossier, data, what="dossier record", names=names)


def _related_persons(value: object) -> list[dict[str, object]]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise InvalidWireRecord(f"{RELATED_PERSONS_KEY} must be a list", field=RELATED_PERSONS_KEY)
    persons = []
    for item in value:
        person = _record(item, RELATED_PERSONS_KEY)
        persons.append({"citizen_id": person.get("SoGiayTo"), "role": person.get("QuanHe")})
    return persons


@dataclass(frozen=True, slots=True)
class ProgressRecord:
    """A ``CapNhatTienDoHoSoMC`` record as read (the portal keeps it as sent, as text)."""

    dossier_code: str
    status: DossierStatus
    occurred_at: datetime
    record: dict[str, str]

    @property
    def identity(self) -> tuple[str, ...]:
        """``step_identity`` of the record."""
        return step_identity(self.record)


def progress_from_portal(record: Mapping[str, Any]) -> ProgressRecord:
    """Read one progress record: a dossier code, a status 1-10, times ``yyyyMMddHHmmss``.

    The optional texts may be absent, ``null`` or ``""``; other keys are ignored.
    """
    record = _record(record, "progress record")
    code = record.get("MaHoSo")
    if not isinstance(code, str):
        raise InvalidWireRecord("MaHoSo must be a dossier code", field="MaHoSo")
    try:
        validate_dossier_code(code)
    except SchemaError as exc:
        raise InvalidWireRecord("MaHoSo must be a dossier code", field="MaHoSo") from exc
    status = status_from_portal(record.get("TrangThai"), field="TrangThai")
    occurred_at = _time(record.get("ThoiDiemXuLy"), "ThoiDiemXuLy")
    for key in ("NgayBatDau", "NgayKetThucTheoQuyDinh"):
        if _optional(record.get(key)) is not None:
            _time(record.get(key), key)
    texts: dict[str, str] = {}
    for key in PROGRESS_KEYS:
        value = record.get(key)
        if value is not None and not isinstance(value, str | int):
            raise InvalidWireRecord(f"{key} must be text", field=key)
        texts[key] = _text(value)
    return ProgressRecord(code, status, occurred_at, texts)


def held_progress(record: Mapping[str, Any]) -> list[dict[str, str]]:
    """The progress records a ``TraCuuHoSo`` record lists (``QuaTrinhXuLy``), as text, in order.

    A record without the list holds none; a list item that is not an object is refused.
    """
    items = record.get(HELD_PROGRESS_KEY)
    if items is None or items == "":
        return []
    if not isinstance(items, list):
        raise InvalidWireRecord(f"{HELD_PROGRESS_KEY} must be a list", field=HELD_PROGRESS_KEY)
    held = []
    for item in items:
        item = _record(item, "held progress record")
        held.append({key: _text(item.get(key)) for key in PROGRESS_KEYS})
    return held


def status_from_lookup(answer: Mapping[str, Any], dossier_code: str) -> DossierStatus | None:
    """The status the portal holds for ``dossier_code`` in a ``TraCuuHoSo`` answer (None: unknown).

    The caller checks ``is_success(answer["error_code"])`` first.
    """
    answer = _record(answer, "TraCuuHoSo answer")
    result = answer.get("result")
    if result is None or result == "":
        return None
    if isinstance(result, Mapping):
        result = [result]
    if not isinstance(result, list):
        raise InvalidWireRecord("TraCuuHoSo result must be a list", field="result")
    for item in result:
        record = _record(item, "TraCuuHoSo result item")
        if record.get("MaHoSo") == dossier_code:
            return status_from_portal(record.get("TrangThaiHoSo"))
    return None
