"""The portal mock over real HTTP: sessions, dossier sync rules, idempotent progress, faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_endpoints import MockSettings, create_mock_app
from mock_endpoints.app import MockState
from mock_endpoints.faults import UpstreamFaults
from schemas.times import VN_TZ
from tests.support.mock_clients import SignedClient
from tests.support.servers import serve_app

AGENCY = "000.00.04.H04"
OTHER_UNIT = "000.00.05.H05"
RECEIVED = datetime(2026, 11, 26, 8, 0, tzinfo=VN_TZ)
_serial = iter(range(1, 10_000))


def new_code() -> str:
    return f"{AGENCY}-261126-{next(_serial):04d}"


def dossier(code: str, status: int = 1) -> dict[str, str]:
    stamp = RECEIVED.strftime("%Y%m%d%H%M%S")
    return {
        "MaHoSo": code,
        "MaTTHC": "1.000894",
        "MaDonVi": AGENCY,
        "MaLinhVuc": "TP.HT",
        "TenHoSo": "Đăng ký kết hôn",
        "ChuHoSo": "Trần Thị Mai",
        "SoGiayToChuHoSo": "001190000002",
        "TrangThaiHoSo": str(status),
        "NgayTiepNhan": stamp,
        "NgayHenTra": "",
        "NgayCapNhat": stamp,
    }


def progress(code: str, sequence: int, status: int) -> dict[str, str]:
    at = (RECEIVED + timedelta(minutes=sequence)).strftime("%Y%m%d%H%M%S")
    return {
        "MaHoSo": code,
        "NguoiXuLy": "Lê Văn Hùng",
        "ChucDanh": "Chuyên viên",
        "ThoiDiemXuLy": at,
        "PhongBanXuLy": "Phòng Tư pháp",
        "NoiDungXuLy": f"Chuyển xử lý {sequence}",
        "TrangThai": str(status),
        "NgayBatDau": RECEIVED.strftime("%Y%m%d%H%M%S"),
        "NgayKetThucTheoQuyDinh": "",
    }


@pytest.fixture(scope="module")
def mock(dev_keys: Path) -> Iterator[tuple[str, MockState]]:
    app = create_mock_app(MockSettings(keys_dir=dev_keys, citizens=10, businesses=2))
    with serve_app(app) as base:
        yield base, app.state.mock


class Portal:
    """A logged-in portal client."""

    def __init__(self, client: SignedClient) -> None:
        self.client = client
        self.session = self.login()

    def login(self, dstcode: str = AGENCY) -> str:
        response = self.client.json(
            "POST",
            "/portal/login",
            {"username": "lienthong", "password": "sandbox"},
            headers={"dstcode": dstcode},
        )
        assert response.json()["error_code"] == "0", response.text
        session: str = response.json()["session"]
        return session

    def call(
        self,
        service: str,
        *,
        timeout: float | None = None,
        madonvi: str = AGENCY,
        session: str | None = None,
        **fields: Any,
    ) -> httpx.Response:
        payload = {
            "session": self.session if session is None else session,
            "madonvi": madonvi,
            "service": service,
            **fields,
        }
        return self.client.json("POST", "/portal/api", payload, timeout=timeout)

    def sync(self, records: list[dict[str, str]], *, updating: bool) -> dict[str, Any]:
        response = self.call(
            "DongBoHoSoMC", isUpdating="true" if updating else "false", data=records
        )
        assert self.client.check(response, "portal") == "portal"
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
def portal(mock: tuple[str, MockState], dev_keys: Path) -> Iterator[Portal]:
    with SignedClient(mock[0], dev_keys) as client:
        yield Portal(client)
    mock[1].faults.replace_all({})


def _held(base: str, code: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/_admin/portal/dossiers/{code}")
    assert response.status_code == 200, response.text
    held: dict[str, Any] = response.json()
    return held


def test_sync_creates_then_updates_and_lookup_finds_it(
    portal: Portal, mock: tuple[str, MockState]
) -> None:
    """isUpdating=false creates, true updates; TraCuuHoSo and the admin route show the result."""
    code = new_code()
    created = portal.sync([dossier(code)], updating=False)
    assert created["error_code"] == "0"
    assert created["results"][0]["error_code"] == "0"
    updated = portal.sync([dossier(code, status=2)], updating=True)
    assert updated["error_code"] == "0"
    found = portal.call("TraCuuHoSo", mahoso=code).json()
    assert found["result"][0]["TrangThaiHoSo"] == "2"
    assert _held(mock[0], code)["sync_count"] == 2


def test_isupdating_rules(portal: Portal) -> None:
    """Creating an existing dossier answers "3"; updating a missing one answers "2"."""
    code = new_code()
    portal.sync([dossier(code)], updating=False)
    again = portal.sync([dossier(code)], updating=False)
    assert again["error_code"] == "3"
    missing = portal.sync([dossier(new_code())], updating=True)
    assert missing["error_code"] == "2"


def test_partly_failing_batch(portal: Portal) -> None:
    """A batch with one existing dossier creates the others and reports the one failure."""
    existing, fresh = new_code(), new_code()
    portal.sync([dossier(existing)], updating=False)
    answer = portal.sync([dossier(fresh), dossier(existing)], updating=False)
    assert [r["error_code"] for r in answer["results"]] == ["0", "3"]
    assert answer["error_code"] == "3"
    assert portal.call("TraCuuHoSo", mahoso=fresh).json()["result"]


def test_progress_is_not_refused_for_its_move(portal: Portal, mock: tuple[str, MockState]) -> None:
    """Progress from submitted (1) straight to result delivered (10) is applied as sent."""
    code = new_code()
    portal.sync([dossier(code)], updating=False)
    answer = portal.call("CapNhatTienDoHoSoMC", data=[progress(code, 1, 10)]).json()
    assert answer["results"][0]["error_code"] == "0"
    assert _held(mock[0], code)["status"] == 10


def test_repeated_progress_is_applied_twice(portal: Portal, mock: tuple[str, MockState]) -> None:
    """The same record twice: both applied; the read-back lists it twice, arrived twice; the
    lookup lists both copies."""
    code = new_code()
    portal.sync([dossier(code)], updating=False)
    first = portal.call("CapNhatTienDoHoSoMC", data=[progress(code, 1, 2)]).json()
    second = portal.call("CapNhatTienDoHoSoMC", data=[progress(code, 1, 2)]).json()
    assert first["results"][0]["duplicate"] is False
    assert second["results"][0]["duplicate"] is False
    held = _held(mock[0], code)
    assert [step["arrived"] for step in held["progress"]] == [2, 2]
    found = portal.call("TraCuuHoSo", mahoso=code).json()["result"][0]["QuaTrinhXuLy"]
    assert [step["NoiDungXuLy"] for step in found] == ["Chuyển xử lý 1"] * 2


def test_commit_then_drop(portal: Portal, mock: tuple[str, MockState]) -> None:
    """drop_after_commit: the step is stored, the caller times out; a blind resend doubles it."""
    code = new_code()
    portal.sync([dossier(code)], updating=False)
    put = httpx.put(
        f"{mock[0]}/_admin/faults/portal", json={"drop_after_commit": 1, "drop_count": 1}
    )
    assert put.status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        portal.call("CapNhatTienDoHoSoMC", data=[progress(code, 1, 2)], timeout=0.5)
    held = _held(mock[0], code)
    assert held["status"] == 2
    assert held["progress"][0]["arrived"] == 1
    retry = portal.call("CapNhatTienDoHoSoMC", data=[progress(code, 1, 2)]).json()
    assert retry["results"][0]["duplicate"] is False
    assert [step["arrived"] for step in _held(mock[0], code)["progress"]] == [2, 2]


def test_lost_dossier_admin_route(portal: Portal, mock: tuple[str, MockState]) -> None:
    """DELETE /_admin/portal/dossiers/{code} makes the portal lose it; its next step is "2"."""
    code = new_code()
    portal.sync([dossier(code)], updating=False)
    assert httpx.delete(f"{mock[0]}/_admin/portal/dossiers/{code}").status_code == 200
    assert httpx.delete(f"{mock[0]}/_admin/portal/dossiers/{code}").status_code == 404
    answer = portal.call("CapNhatTienDoHoSoMC", data=[progress(code, 1, 2)]).json()
    assert answer["results"][0]["error_code"] == "2"


def test_reads_and_login_are_not_dropped(portal: Portal, mock: tuple[str, MockState]) -> None:
    """With every write dropped, login and TraCuuHoSo still answer."""
    mock[1].faults.set("portal", UpstreamFaults(drop_after_commit=1.0))
    assert portal.login()
    assert portal.call("TraCuuHoSo", mahoso=new_code()).json()["error_code"] == "0"


def test_outage_answers_503(portal: Portal, mock: tuple[str, MockState]) -> None:
    """In outage the portal answers HTTP 503 with error_code "9", signed."""
    mock[1].faults.set("portal", UpstreamFaults(outage=True))
    response = portal.call("LayDanhSachTTHC")
    assert response.status_code == 503
    assert response.json()["error_code"] == "9"
    assert portal.client.check(response, "portal") == "portal"


def test_error_rate_answers_503(portal: Portal, mock: tuple[str, MockState]) -> None:
    """With error_rate 1 every call answers 503 and nothing is stored."""
    mock[1].faults.set("portal", UpstreamFaults(error_rate=1.0))
    code = new_code()
    response = portal.call("DongBoHoSoMC", isUpdating=False, data=[dossier(code)])
    assert response.status_code == 503
    mock[1].faults.replace_all({})
    assert httpx.get(f"{mock[0]}/_admin/portal/dossiers/{code}").status_code == 404


def test_latency_is_added(portal: Portal, mock: tuple[str, MockState]) -> None:
    """latency_ms=250 delays the answer by at least 0.25 s."""
    mock[1].faults.set("portal", UpstreamFaults(latency_ms=250))
    started = time.monotonic()
    assert portal.call("LayDanhSachTTHC").status_code == 200
    assert time.monotonic() - started >= 0.25


def test_expired_session_answers_minus_one(portal: Portal, mock: tuple[str, MockState]) -> None:
    """After the sessions are expired, a call answers error_code "-1"; a new login works."""
    assert httpx.delete(f"{mock[0]}/_admin/portal/sessions").json()["expired"] >= 1
    assert portal.call("LayDanhSachTTHC").json()["error_code"] == "-1"
    portal.session = portal.login()
    assert portal.call("LayDanhSachTTHC").json()["error_code"] == "0"


def test_sessions_expire_with_time(dev_keys: Path) -> None:
    """A session older than session_ttl (0.5 s here) answers "-1"."""
    app = create_mock_app(
        MockSettings(keys_dir=dev_keys, citizens=2, businesses=0, session_ttl=0.5)
    )
    with serve_app(app) as base, SignedClient(base, dev_keys) as client:
        portal = Portal(client)
        assert portal.call("LayDanhSachTTHC").json()["error_code"] == "0"
        time.sleep(0.6)
        assert portal.call("LayDanhSachTTHC").json()["error_code"] == "-1"


def _refused_for_unit(portal: Portal, response: httpx.Response) -> None:
    """``response`` is the portal's unit-mismatch refusal: HTTP 200, "8", signed, no data."""
    assert response.status_code == 200
    assert portal.client.check(response, "portal") == "portal"
    answer = response.json()
    assert answer == {
        "error_code": "8",
        "message": "madonvi is not the unit this session was opened for",
    }
    assert AGENCY not in response.text
    assert OTHER_UNIT not in response.text


def test_madonvi_of_another_unit_is_refused_and_changes_nothing(
    portal: Portal, mock: tuple[str, MockState]
) -> None:
    """A call whose madonvi is not its session's unit answers "8" and reads or changes nothing.

    Both ways: this unit's session naming another unit, and another unit's session naming
    this unit (the dossier's own). The unit's own calls still work afterwards.
    """
    code = new_code()
    assert portal.sync([dossier(code)], updating=False)["error_code"] == "0"
    before = _held(mock[0], code)
    fresh = new_code()
    other_session = portal.login(dstcode=OTHER_UNIT)
    for session, madonvi in ((portal.session, OTHER_UNIT), (other_session, AGENCY)):
        calls = [
            ("DongBoHoSoMC", {"isUpdating": "true", "data": [dossier(code, status=2)]}),
            ("DongBoHoSoMC", {"isUpdating": "false", "data": [dossier(fresh)]}),
            ("CapNhatTienDoHoSoMC", {"data": [progress(code, 1, 2)]}),
            ("TraCuuHoSo", {"mahoso": code}),
            ("LayThuTuc", {"maTTHC": "1.000894"}),
        ]
        for service, fields in calls:
            response = portal.call(service, session=session, madonvi=madonvi, **fields)
            _refused_for_unit(portal, response)
    assert _held(mock[0], code) == before
    assert httpx.get(f"{mock[0]}/_admin/portal/dossiers/{fresh}").status_code == 404
    update = portal.call("CapNhatTienDoHoSoMC", data=[progress(code, 1, 2)]).json()
    assert update["error_code"] == "0"
    assert update["results"][0]["duplicate"] is False
    assert _held(mock[0], code)["status"] == 2
    own = portal.call("LayDanhSachTTHC", session=other_session, madonvi=OTHER_UNIT)
    assert own.json()["error_code"] == "0"


def test_wrong_password_is_refused(portal: Portal) -> None:
    """Login with a wrong password answers error_code "6" and no session."""
    response = portal.client.json(
        "POST",
        "/portal/login",
        {"username": "lienthong", "password": "x"},
        headers={"dstcode": AGENCY},
    )
    assert response.json()["error_code"] == "6"
    assert "session" not in response.json()


def test_unsigned_request_is_refused(portal: Portal) -> None:
    """An unsigned call answers HTTP 401 with error_code "7", and the answer is signed."""
    payload = {"session": portal.session, "madonvi": AGENCY, "service": "LayDanhSachTTHC"}
    response = portal.client.json("POST", "/portal/api", payload, sign=False)
    assert response.status_code == 401
    assert response.json()["error_code"] == "7"
    assert portal.client.check(response, "portal") == "portal"


def test_procedures(portal: Portal, mock: tuple[str, MockState]) -> None:
    """LayThuTuc answers one procedure; LayDanhSachTTHC the catalogue; the admin list agrees."""
    one = portal.call("LayThuTuc", maTTHC="1.000894").json()
    assert one["result"]["TenTTHC"] == "Đăng ký kết hôn"
    assert portal.call("LayThuTuc", maTTHC="9.999999").json()["error_code"] == "2"
    listed = portal.call("LayDanhSachTTHC", maLinhVuc="TP.HT").json()["result"]
    assert {p["MaLinhVuc"] for p in listed} == {"TP.HT"}
    admin = httpx.get(f"{mock[0]}/_admin/portal/procedures?limit=3").json()
    assert len(admin["procedures"]) == 3
    assert admin["total"] > 3


def test_unknown_service_and_bad_json(portal: Portal) -> None:
    """An unknown service and a body that is not JSON answer error_code "1"."""
    assert portal.call("XoaHoSo").json()["error_code"] == "1"
    response = portal.client.send(
        "POST", "/portal/api", body=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.json()["error_code"] == "1"
