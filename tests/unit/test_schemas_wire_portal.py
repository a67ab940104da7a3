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
    """The CapNhatTienDoHoSoMC sample (OpenCPS's shape) reads record by record and is rebuilt
    from events and their dossier's dates."""
    sample = _load("portal_cap_nhat_tien_do_ho_so_mc.json")
    read = [portal.progress_from_portal(item) for item in sample["data"]]
    assert [r.status for r in read] == [2, 4, 4]
    assert [r.record for r in read] == sample["data"]
    received = datetime(2026, 11, 26, 8, 15, 30, tzinfo=VN_TZ)
    due = datetime(2026, 12, 3, 17, 0, tzinfo=VN_TZ)
    events = [
        DossierEvent(
            dossier_code=r.dossier_code,
            sequence=n,
            status=r.status,
            occurred_at=r.occurred_at,
            officer=r.record["NguoiXuLy"] or None,
            note=r.record["NoiDungXuLy"] or None,
        )
        for n, r in enumerate(read, start=1)
    ]
    steps = [portal.ProgressStep(e, received, due) for e in events]
    assert portal.progress_request(SESSION, AGENCY, steps) == sample
    assert list(sample["data"][0]) == list(portal.PROGRESS_KEYS)
    assert "ThuTu" not in sample["data"][0]
    assert "IdempotencyKey" not in sample["data"][0]


def test_lookup_sample_gives_the_status() -> None:
    """The TraCuuHoSo answer gives the held status; an unknown code gives None."""
    answer = _load("portal_tra_cuu_ho_so.json")
    assert portal.is_success(answer["error_code"])
    code = "000.00.04.H04-261126-0007"
    assert portal.status_from_lookup(answer, code) is DossierStatus.PROCESSING
    assert portal.status_from_lookup(answer, "000.00.04.H04-261126-0009") is None
    assert portal.status_from_lookup({"error_code": "0", "result": []}, code) is None
    assert portal.status_from_lookup({"error_code": "0", "result": answer["result"][0]}, code) == 4
    fields = {k: v for k, v in answer["result"][0].items() if k != "QuaTrinhXuLy"}
    dossier = portal.dossier_from_portal(fields)
    held = portal.held_progress(answer["result"][0])
    assert [step["NoiDungXuLy"] for step in held] == [
        "Tiếp nhận hồ sơ",
        "Chuyển phòng Tư pháp xử lý",
    ]
    assert portal.lookup_answer([dossier], [held]) == answer
    assert portal.held_progress(fields) == []
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
    """model → progress record → JSON text → record: the same status, time (to the second),
    officer, note; its identity is the one computed from the record sent."""
    sent = portal.event_to_portal(event)
    read = portal.progress_from_portal(json.loads(json.dumps(sent, ensure_ascii=False)))
    assert read.status == event.status
    assert read.occurred_at == event.occurred_at.replace(microsecond=0)
    assert read.record["NguoiXuLy"] == (event.officer or "")
    assert read.record["NoiDungXuLy"] == (event.note or "")
    assert read.identity == portal.step_identity(sent)


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


def test_progress_record_accepts_an_integer_status_and_absent_texts() -> None:
    """TrangThai may be an integer; absent or null optional texts read as ""."""
    item = _item(TrangThai=4, ChucDanh=None)
    del item["PhongBanXuLy"]
    read = portal.progress_from_portal(item)
    assert read.status == 4
    assert (read.record["ChucDanh"], read.record["PhongBanXuLy"]) == ("", "")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"ThoiDiemXuLy": ""}, "ThoiDiemXuLy must be 14 digits"),
        ({"ThoiDiemXuLy": None}, "ThoiDiemXuLy must be a string"),
        ({"NgayBatDau": "2026"}, "NgayBatDau must be 14 digits"),
        ({"TrangThai": "12"}, "TrangThai"),
        ({"MaHoSo": "x"}, "MaHoSo"),
        ({"NoiDungXuLy": ["x"]}, "NoiDungXuLy must be text"),
    ],
)
def test_bad_progress_items_are_refused(changes: dict[str, object], reason: str) -> None:
    """A bad time, status, dossier code or text is refused, naming the key."""
    with pytest.raises(InvalidWireRecord, match=reason):
        portal.progress_from_portal(_item(**changes))


def test_step_identity_leaves_out_the_dossier_dates() -> None:
    """Two records of one step sent with different due dates are the same step."""
    first = _item()
    later = _item(NgayKetThucTheoQuyDinh="20261210170000")
    assert portal.step_identity(first) == portal.step_identity(later)
    assert portal.step_identity(first) != portal.step_identity(_item(NoiDungXuLy="khác"))


def test_service_names() -> None:
    """The five portal services are named as the portal spells them."""
    assert {
        "TraCuuHoSo",
        "DongBoHoSoMC",
        "CapNhatTienDoHoSoMC",
        "LayThuTuc",
        "LayDanhSachTTHC",
    } == portal.SERVICES
