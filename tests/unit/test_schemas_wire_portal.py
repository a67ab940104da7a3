"""Portal JSON ⇄ Dossier / DossierEvent, against the wire samples and generated records."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from schemas.errors import InvalidWireRecord
from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.times import VN_TZ
from schemas.wire import portal
from tests.support.schemas_strategies import dossier_events, dossiers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire"
SESSION = "b1946ac92492d2347c6235b4d2611184"
AGENCY = "000.00.04.H04"


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_dong_bo_sample_both_ways() -> None:
    """The DongBoHoSoMC sample reads to dossiers that rebuild the very same request."""
    sample = _load("portal_dong_bo_ho_so_mc.json")
    records = [portal.dossier_from_portal(item) for item in sample["data"]]
    first, second = records
    assert first.status is DossierStatus.PROCESSING
    assert first.received_at == datetime(2026, 11, 26, 8, 15, 30, tzinfo=VN_TZ)
    assert second.due_at is None
    assert second.applicant_id == "0101234565"
    assert portal.sync_request(SESSION, AGENCY, records, is_updating=False) == sample
    assert portal.sync_request(SESSION, AGENCY, records, is_updating=True)["isUpdating"] == "true"


def test_progress_sample_both_ways() -> None:
    """The CapNhatTienDoHoSoMC sample reads to events that rebuild the same request."""
    sample = _load("portal_cap_nhat_tien_do_ho_so_mc.json")
    events = [portal.event_from_portal(item) for item in sample["data"]]
    assert [e.sequence for e in events] == [1, 2, 3]
    assert events[2].officer is None
    assert events[2].note is None
    assert portal.progress_request(SESSION, AGENCY, events) == sample
    assert sample["data"][1]["IdempotencyKey"] == events[1].idempotency_key


def test_lookup_sample_gives_the_status() -> None:
    """The TraCuuHoSo answer gives the held status; an unknown code gives None."""
    answer = _load("portal_tra_cuu_ho_so.json")
    assert portal.is_success(answer["error_code"])
    code = "000.00.04.H04-261126-0007"
    assert portal.status_from_lookup(answer, code) is DossierStatus.PROCESSING
    assert portal.status_from_lookup(answer, "000.00.04.H04-261126-0009") is None
    assert portal.status_from_lookup({"error_code": "0", "result": []}, code) is None
    assert portal.status_from_lookup({"error_code": "0", "result": answer["result"][0]}, code) == 4
    dossier = portal.dossier_from_portal(answer["result"][0])
    assert portal.lookup_answer([dossier]) == answer
    assert portal.lookup_request(SESSION, AGENCY, code) == {
        "session": SESSION,
        "madonvi": AGENCY,
        "service": "TraCuuHoSo",
        "mahoso": code,
    }


@given(dossiers())
def test_any_dossier_round_trips(dossier: Dossier) -> None:
    """model → DongBoHoSoMC record → JSON text → model gives an equal Dossier."""
    text = json.dumps(portal.dossier_to_portal(dossier), ensure_ascii=False)
    assert portal.dossier_from_portal(json.loads(text)) == dossier


@given(dossier_events)
def test_any_event_round_trips(event: DossierEvent) -> None:
    """model → progress item → JSON text → model gives an equal DossierEvent."""
    text = json.dumps(portal.event_to_portal(event), ensure_ascii=False)
    assert portal.event_from_portal(json.loads(text)) == event


def test_times_go_out_in_vietnam_time() -> None:
    """A dossier received 17:30 UTC on the 25th is sent as 00:30 on the 26th."""
    received = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)
    record = _load("portal_dong_bo_ho_so_mc.json")["data"][0]
    dossier = portal.dossier_from_portal(record).model_copy(
        update={"received_at": received, "updated_at": received}
    )
    assert portal.dossier_to_portal(dossier)["NgayTiepNhan"] == "20261126003000"


@pytest.mark.parametrize(
    ("code", "success"),
    [
        (0, True),
        ("0", True),
        ("00", True),
        (" 0 ", True),
        (1, False),
        ("1", False),
        ("", False),
        (None, False),
        (False, False),
        ("000", False),
    ],
)
def test_error_code_success_values(code: object, success: bool) -> None:
    """0, "0" and "00" are success; anything else is not."""
    assert portal.is_success(code) is success


@pytest.mark.parametrize("value", ["4", 4, " 4 "])
def test_status_read_from_strings_or_integers(value: object) -> None:
    """TrangThaiHoSo is read from a digit string or an integer."""
    assert portal.status_from_portal(value) is DossierStatus.PROCESSING


@pytest.mark.parametrize("value", ["0", "11", 11, "4a", "", None, True, 4.0, "٤"])
def test_bad_status_is_refused(value: object) -> None:
    """Anything but 1–10 is refused naming TrangThaiHoSo."""
    with pytest.raises(InvalidWireRecord, match="TrangThaiHoSo must be a status code 1-10"):
        portal.status_from_portal(value)


def _record(**changes: object) -> dict[str, Any]:
    record: dict[str, Any] = copy.deepcopy(_load("portal_dong_bo_ho_so_mc.json")["data"][0])
    for key, value in changes.items():
        if value is KeyError:
            del record[key]
        else:
            record[key] = value
    return record


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"NgayTiepNhan": "2026-11-26 08:15:30"}, "NgayTiepNhan must be 14 digits"),
        ({"NgayTiepNhan": 20261126081530}, "NgayTiepNhan must be a string"),
        ({"NgayHenTra": "20261131170000"}, "NgayHenTra is not a real date"),
        ({"NgayTiepNhan": "20261127081530"}, "receipt date does not match"),
        ({"MaHoSo": "000.00.04.H04-261126-0000"}, "MaHoSo"),
        ({"MaDonVi": "H04"}, "MaDonVi"),
        ({"SoGiayToChuHoSo": "003190123456"}, "SoGiayToChuHoSo"),
        ({"ChuHoSo": KeyError}, "ChuHoSo"),
        ({"TenHoSo": ""}, "TenHoSo"),
    ],
)
def test_bad_dossier_records_are_refused(changes: dict[str, object], reason: str) -> None:
    """Bad times, codes, identifiers and missing keys are refused naming the wire key."""
    with pytest.raises(InvalidWireRecord) as caught:
        portal.dossier_from_portal(_record(**changes))
    assert reason in str(caught.value)
    assert "003190123456" not in str(caught.value)


def _item(**changes: object) -> dict[str, Any]:
    item: dict[str, Any] = copy.deepcopy(_load("portal_cap_nhat_tien_do_ho_so_mc.json")["data"][1])
    item.update(changes)
    return item


def test_progress_item_accepts_integer_sequence_and_no_key() -> None:
    """ThuTu may be an integer; an item without IdempotencyKey still reads."""
    item = _item(ThuTu=2)
    del item["IdempotencyKey"]
    assert portal.event_from_portal(item).sequence == 2


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"IdempotencyKey": "000.00.04.H04-261126-0007#9"}, "IdempotencyKey does not match"),
        ({"ThuTu": "0"}, "ThuTu"),
        ({"ThuTu": "-1"}, "ThuTu must be a positive integer"),
        ({"ThuTu": True}, "ThuTu must be a positive integer"),
        ({"ThoiDiemXuLy": ""}, "ThoiDiemXuLy must be 14 digits"),
        ({"ThoiDiemXuLy": None}, "ThoiDiemXuLy must be a string"),
        ({"TrangThaiHoSo": "12"}, "TrangThaiHoSo"),
        ({"MaHoSo": "x"}, "MaHoSo"),
    ],
)
def test_bad_progress_items_are_refused(changes: dict[str, object], reason: str) -> None:
    """A foreign idempotency key, a sequence below 1, a bad time or status are refused."""
    with pytest.raises(InvalidWireRecord, match=reason):
        portal.event_from_portal(_item(**changes))


def test_service_names() -> None:
    """The five portal services are named as the portal spells them."""
    assert {
        "TraCuuHoSo",
        "DongBoHoSoMC",
        "CapNhatTienDoHoSoMC",
        "LayThuTuc",
        "LayDanhSachTTHC",
    } == portal.SERVICES
