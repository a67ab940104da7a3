"""The portal mock's rules: sessions expire, isUpdating, legal moves, progress applied as sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from mock_endpoints import portal_state as codes
from mock_endpoints.errors import PortalError
from mock_endpoints.portal_state import PortalState, batch_error_code
from schemas.times import VN_TZ

CODE = "000.00.04.H04-261126-0007"
RECEIVED = datetime(2026, 11, 26, 9, 30, tzinfo=VN_TZ)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(code: str = CODE, status: int = 1, **changes: str) -> dict[str, Any]:
    base = {
        "MaHoSo": code,
        "MaTTHC": "1.001193",
        "MaDonVi": "000.00.04.H04",
        "MaLinhVuc": "TP.HT",
        "TenHoSo": "Đăng ký khai sinh",
        "ChuHoSo": "Nguyễn Văn An",
        "SoGiayToChuHoSo": "001090000001",
        "TrangThaiHoSo": str(status),
        "NgayTiepNhan": RECEIVED.strftime("%Y%m%d%H%M%S"),
        "NgayHenTra": "",
        "NgayCapNhat": RECEIVED.strftime("%Y%m%d%H%M%S"),
    }
    base.update(changes)
    return base


def step(sequence: int, status: int, code: str = CODE) -> dict[str, str]:
    at = RECEIVED + timedelta(hours=sequence)
    return {
        "MaHoSo": code,
        "NguoiXuLy": "Cán bộ một cửa",
        "ChucDanh": "",
        "ThoiDiemXuLy": at.strftime("%Y%m%d%H%M%S"),
        "PhongBanXuLy": "",
        "NoiDungXuLy": f"bước {sequence}",
        "TrangThai": str(status),
        "NgayBatDau": RECEIVED.strftime("%Y%m%d%H%M%S"),
        "NgayKetThucTheoQuyDinh": "",
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> PortalState:
    return PortalState(session_ttl=60, clock=clock)


def test_login_gives_a_session_that_expires(state: PortalState, clock: Clock) -> None:
    """A session works until its lifetime passes, then answers "-1"."""
    session = state.login("lienthong", "sandbox", "000.00.04.H04")
    assert state.check_session(session.token).dstcode == "000.00.04.H04"
    clock.now += 61
    with pytest.raises(PortalError) as caught:
        state.check_session(session.token)
    assert caught.value.error_code == codes.SESSION_EXPIRED


def test_session_serves_only_its_own_unit(state: PortalState) -> None:
    """madonvi must be the login's dstcode (surrounding spaces aside, case kept), else "8"."""
    session = state.login("lienthong", "sandbox", "000.00.04.H04")
    session.check_unit("000.00.04.H04")
    session.check_unit(" 000.00.04.H04 ")
    for other in ("000.00.05.H05", "000.00.04.h04", "000.00.04.H04X"):
        with pytest.raises(PortalError) as caught:
            session.check_unit(other)
        assert caught.value.error_code == codes.UNIT_MISMATCH
        assert other.strip() not in caught.value.message


def test_wrong_password_and_missing_dstcode_are_refused(state: PortalState) -> None:
    """Wrong credentials answer "6"; a login without dstcode answers "1"."""
    with pytest.raises(PortalError) as caught:
        state.login("lienthong", "nope", "X")
    assert caught.value.error_code == codes.BAD_CREDENTIALS
    with pytest.raises(PortalError) as caught:
        state.login("lienthong", "sandbox", "")
    assert caught.value.error_code == codes.INVALID_INPUT


def test_creating_an_existing_dossier_is_an_error(state: PortalState) -> None:
    """isUpdating=false on a held dossier answers "3" and keeps the first version."""
    assert state.sync_dossiers([record()], is_updating=False)[0]["error_code"] == codes.OK
    again = state.sync_dossiers([record(TenHoSo="Khác")], is_updating=False)[0]
    assert again["error_code"] == codes.ALREADY_EXISTS
    held = state.held(CODE)
    assert held is not None
    assert held["dossier"]["TenHoSo"] == "Đăng ký khai sinh"


def test_updating_a_missing_dossier_is_an_error(state: PortalState) -> None:
    """isUpdating=true on an unknown dossier answers "2" and creates nothing."""
    result = state.sync_dossiers([record()], is_updating=True)[0]
    assert result["error_code"] == codes.NOT_FOUND
    assert state.held(CODE) is None


def test_an_update_with_an_illegal_status_move_is_refused(state: PortalState) -> None:
    """Updating a submitted dossier straight to processed answers "4"."""
    state.sync_dossiers([record(status=1)], is_updating=False)
    assert state.sync_dossiers([record(status=9)], is_updating=True)[0]["error_code"] == "4"
    assert state.sync_dossiers([record(status=2)], is_updating=True)[0]["error_code"] == "0"
    held = state.held(CODE)
    assert held is not None
    assert held["status"] == 2
    assert held["sync_count"] == 2


def test_a_batch_can_partly_fail(state: PortalState) -> None:
    """One bad record does not stop the others; the top-level code is the first failure's."""
    other = "000.00.04.H04-261126-0008"
    results = state.sync_dossiers(
        [record(), {"MaHoSo": "broken"}, record(code=other)], is_updating=False
    )
    assert [r["error_code"] for r in results] == ["0", "1", "0"]
    assert batch_error_code(results) == "1"
    assert "broken" not in results[1]["message"]


def test_a_step_sent_twice_is_applied_twice(state: PortalState) -> None:
    """Like the real portal: a record sent again is held again; each copy says it arrived twice."""
    state.sync_dossiers([record(status=1)], is_updating=False)
    first = state.update_progress([step(1, 2)])[0]
    again = state.update_progress([step(1, 2)])[0]
    assert (first["error_code"], first["duplicate"]) == ("0", False)
    assert (again["error_code"], again["duplicate"]) == ("0", False)
    held = state.held(CODE)
    assert held is not None
    assert [entry["arrived"] for entry in held["progress"]] == [2, 2]
    assert held["repeated"] == 2
    assert held["status"] == 2


def test_dedup_flag_applies_an_identical_record_once(clock: Clock) -> None:
    """With ``dedup`` (for comparison) an identical record is acknowledged, not applied again."""
    state = PortalState(session_ttl=60, clock=clock, dedup=True)
    state.sync_dossiers([record(status=1)], is_updating=False)
    state.update_progress([step(1, 2)])
    again = state.update_progress([step(1, 2)])[0]
    assert (again["error_code"], again["duplicate"]) == ("0", True)
    held = state.held(CODE)
    assert held is not None
    assert [entry["arrived"] for entry in held["progress"]] == [2]


def test_nothing_is_refused_for_its_order_or_its_move(state: PortalState) -> None:
    """An earlier step after a later one, or a move the lifecycle forbids, is applied as sent."""
    state.sync_dossiers([record(status=1)], is_updating=False)
    results = state.update_progress([step(2, 4), step(1, 2), step(3, 10)])
    assert [r["error_code"] for r in results] == ["0", "0", "0"]
    held = state.held(CODE)
    assert held is not None
    assert [e["NoiDungXuLy"] for e in held["progress"]] == ["bước 2", "bước 1", "bước 3"]
    assert held["status"] == 10


def test_progress_for_an_unknown_dossier_is_not_found(state: PortalState) -> None:
    """Progress for a dossier the portal does not hold answers "2"."""
    assert state.update_progress([step(1, 2)])[0]["error_code"] == codes.NOT_FOUND


def test_a_progress_record_that_does_not_read_is_refused(state: PortalState) -> None:
    """A record without a real time or status answers "1" naming the key; the others apply."""
    state.sync_dossiers([record(status=1)], is_updating=False)
    bad = {**step(1, 2), "ThoiDiemXuLy": "2026"}
    results = state.update_progress([bad, step(2, 2)])
    assert [r["error_code"] for r in results] == ["1", "0"]
    assert "ThoiDiemXuLy" in results[0]["message"]


def test_lookup_answers_the_held_dossier_or_nothing(state: PortalState) -> None:
    """TraCuuHoSo finds a held dossier, an empty list for an unknown one, "1" for a bad code."""
    state.sync_dossiers([record()], is_updating=False)
    state.update_progress([step(1, 2)])
    ((dossier, steps),) = state.lookup(CODE)
    assert dossier.code == CODE
    assert [s["NoiDungXuLy"] for s in steps] == ["bước 1"]
    assert state.lookup("000.00.04.H04-261126-0099") == []
    with pytest.raises(PortalError) as caught:
        state.lookup("not-a-code")
    assert caught.value.error_code == codes.INVALID_INPUT


def test_batches_must_be_non_empty_lists(state: PortalState) -> None:
    """``data`` that is not a list, or an empty one, answers "1"."""
    for data in ({}, [], "x"):
        with pytest.raises(PortalError) as caught:
            state.sync_dossiers(data, is_updating=False)
        assert caught.value.error_code == codes.INVALID_INPUT


def test_procedures_by_code_and_sector(state: PortalState) -> None:
    """LayThuTuc finds a procedure or answers "2"; LayDanhSachTTHC filters by sector."""
    assert state.procedure("1.001193").name == "Đăng ký khai sinh"
    with pytest.raises(PortalError) as caught:
        state.procedure("9.999999")
    assert caught.value.error_code == codes.NOT_FOUND
    sector = state.procedures("TP.HT")
    assert sector
    assert all(p.sector_code == "TP.HT" for p in sector)
    assert len(state.procedures()) > len(sector)
