"""Business registry JSON (the national gateway's ``chiTietDoanhNghiep`` answer) ⇄ ``Business``.

Shape::

    {"Data": {
        "MainInformation": {"MaSoDoanhNghiep", "TenDoanhNghiep", "TenTiengAnh", "TenVietTat",
                            "TinhTrangPhapLy", "LoaiHinhDN", "NgayThanhLap", "DiaChiTruSo"},
        "Representatives": [{"HoTen", "LoaiGiayTo", "SoGiayTo", "ChucDanh"}, ...]}}

``TinhTrangPhapLy`` carries the registry's Vietnamese legal-status text (``STATUS_TEXT``);
``NgayThanhLap`` is ``yyyy-MM-dd``; absent optional values are ``null``. ``LoaiGiayTo`` is
``CCCD``: a representative is identified by their citizen ID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import Any

from schemas.errors import InvalidWireRecord
from schemas.models import Business, BusinessStatus, Representative
from schemas.wire.validation import build_model

#: BusinessStatus -> the registry's legal-status text
STATUS_TEXT: Mapping[BusinessStatus, str] = MappingProxyType(
    {
        BusinessStatus.ACTIVE: "Đang hoạt động",
        BusinessStatus.SUSPENDED: "Tạm ngừng kinh doanh",
        BusinessStatus.DISSOLVING: "Đang làm thủ tục giải thể",
        BusinessStatus.DISSOLVED: "Đã giải thể",
        BusinessStatus.BANKRUPT: "Phá sản",
        BusinessStatus.LICENCE_REVOKED: "Bị thu hồi Giấy chứng nhận đăng ký doanh nghiệp",
        BusinessStatus.NOT_AT_REGISTERED_ADDRESS: "Không hoạt động tại địa chỉ đã đăng ký",
    }
)
STATUS_OF_TEXT: Mapping[str, BusinessStatus] = MappingProxyType(
    {text: status for status, text in STATUS_TEXT.items()}
)
ID_DOCUMENT_TYPE = "CCCD"

_MAIN = {
    "tax_code": "MaSoDoanhNghiep",
    "name": "TenDoanhNghiep",
    "english_name": "TenTiengAnh",
    "short_name": "TenVietTat",
    "status": "TinhTrangPhapLy",
    "legal_form": "LoaiHinhDN",
    "registered_on": "NgayThanhLap",
    "head_office_address": "DiaChiTruSo",
}
_REPRESENTATIVE = {"citizen_id": "SoGiayTo", "full_name": "HoTen", "position": "ChucDanh"}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def business_to_registry(business: Business) -> dict[str, Any]:
    """The registry's ``{"Data": …}`` answer for ``business``."""
    main: dict[str, Any] = {
        "MaSoDoanhNghiep": business.tax_code,
        "TenDoanhNghiep": business.name,
        "TenTiengAnh": business.english_name,
        "TenVietTat": business.short_name,
        "TinhTrangPhapLy": STATUS_TEXT[business.status],
        "LoaiHinhDN": business.legal_form,
        "NgayThanhLap": business.registered_on.isoformat(),
        "DiaChiTruSo": business.head_office_address,
    }
    representatives = [
        {
            "HoTen": person.full_name,
            "LoaiGiayTo": ID_DOCUMENT_TYPE,
            "SoGiayTo": person.citizen_id,
            "ChucDanh": person.position,
        }
        for person in business.representatives
    ]
    return {"Data": {"MainInformation": main, "Representatives": representatives}}


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidWireRecord(f"{where} must be a JSON object", field=where)
    return value


def _status(text: object) -> BusinessStatus:
    if not isinstance(text, str) or text.strip() not in STATUS_OF_TEXT:
        raise InvalidWireRecord(
            "MainInformation.TinhTrangPhapLy is not a known legal status",
            field="MainInformation.TinhTrangPhapLy",
        )
    return STATUS_OF_TEXT[text.strip()]


def _registered_on(text: object) -> date:
    where = "MainInformation.NgayThanhLap"
    if not isinstance(text, str) or not _ISO_DATE.fullmatch(text):
        raise InvalidWireRecord(f"{where} must be a date yyyy-MM-dd", field=where)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidWireRecord(f"{where} is not a real date", field=where) from exc


def _representative(item: object, index: int) -> Representative:
    where = f"Representatives[{index}]"
    record = _mapping(item, where)
    kind = record.get("LoaiGiayTo", ID_DOCUMENT_TYPE)
    if kind not in (ID_DOCUMENT_TYPE, None):
        raise InvalidWireRecord(f"{where}.LoaiGiayTo must be CCCD", field=f"{where}.LoaiGiayTo")
    data = {field: record.get(key) for field, key in _REPRESENTATIVE.items()}
    names = {field: f"{where}.{key}" for field, key in _REPRESENTATIVE.items()}
    return build_model(Representative, data, what=where, names=names)


def business_from_registry(payload: Mapping[str, Any]) -> Business:
    """The ``Business`` in a registry answer; ``InvalidWireRecord`` naming each bad key."""
    data = _mapping(_mapping(payload, "answer").get("Data"), "Data")
    main = _mapping(data.get("MainInformation"), "Data.MainInformation")
    people = data.get("Representatives", [])
    if people is None:
        people = []
    if not isinstance(people, list):
        raise InvalidWireRecord("Data.Representatives must be a list", field="Representatives")
    fields: dict[str, Any] = {field: main.get(key) for field, key in _MAIN.items()}
    fields["status"] = _status(fields["status"])
    fields["registered_on"] = _registered_on(fields["registered_on"])
    fields["representatives"] = tuple(
        _representative(item, index) for index, item in enumerate(people)
    )
    names = {field: f"MainInformation.{key}" for field, key in _MAIN.items()}
    return build_model(Business, fields, what="Data.MainInformation", names=names)
