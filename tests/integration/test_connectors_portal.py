"""The portal connector against the real mock over HTTP: session, every service, per-item
results, the portal's error codes, faults and signatures."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import (
    AlreadyExists,
    BadUpstreamSignature,
    CircuitOpen,
    IllegalMove,
    InvalidRequest,
    NotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from connectors.exchange import MemoryRecorder
from connectors.portal import PortalConnector
from connectors.resilience import Resilience
from schemas.dossier_code import make_dossier_code
from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.times import VN_TZ, to_portal_time
from schemas.wire.portal import ProgressStep
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.keys import load_party
from security.trust import TrustStore
from tests.integration.connectors_support import (
    MockServer,
    context,
    running_mock,
    running_proxy,
    upstream,
)

AGENCY = "000.00.04.H04"
SANDBOX_PASSWORD = "sandbox"
_serials = itertools.count(1)


def dossier(status: DossierStatus = DossierStatus.SUBMITTED) -> Dossier:
    """A fresh dossier (a new code each time) received today in Vietnam time."""
    received = dt.datetime.now(VN_TZ).replace(microsecond=0) - dt.timedelta(minutes=5)
    return Dossier(
        code=make_dossier_code(AGENCY, received.date(), next(_serials)),
        procedure_code="1.001193",
        agency_code=AGENCY,
        sector_code="TP.HT",
        applicant_name="Nguyễn Văn Bình",
        applicant_id="001090000001",
        status=status,
        received_at=received,
        updated_at=received,
        title="Đăng ký khai sinh",
    )


def event(code: str, sequence: int, status: DossierStatus) -> DossierEvent:
    """A progress step of dossier ``code``."""
    return DossierEvent(
        dossier_code=code,
        sequence=sequence,
        status=status,
        occurred_at=dt.datetime.now(VN_TZ).replace(microsecond=0),
        officer="Cán bộ một cửa",
        note="Tiếp nhận hồ sơ",
    )


@pytest.fixture(scope="module")
def mock(dev_keys: Path) -> Iterator[MockServer]:
    """The mock national endpoints for this module."""
    with running_mock(dev_keys) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_faults(mock: MockServer) -> Iterator[None]:
    mock.clear_faults()
    yield
    mock.clear_faults()


def make(
    keys: Path,
    url: str,
    *,
    password: str = SANDBOX_PASSWORD,
    recorder: Any = None,
    batch_size: int = 100,
    **settings: Any,
) -> PortalConnector:
    """A portal connector for ``url`` with quick-to-fail settings."""
    config = upstream("portal", url, **settings)
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    return PortalConnector(
        config,
        signer=HttpSigner(load_party(keys, "adapter")),
        verifier=HttpVerifier(TrustedKeyDirectory(keys, trust), None),
        username="lienthong",
        password=password,
        agency_code=AGENCY,
        recorder=recorder,
        resilience=Resilience(config),
        batch_size=batch_size,
    )


@pytest.fixture
async def connector(dev_keys: Path, mock: MockServer) -> AsyncIterator[PortalConnector]:
    """A connector to the mock portal."""
    c = make(dev_keys, f"{mock.url}/portal")
    yield c
    await c.aclose()


async def test_procedure_catalogue_and_one_procedure(connector: PortalConnector) -> None:
    """LayDanhSachTTHC lists the catalogue (filtered by sector); LayThuTuc returns one entry."""
    everything = await connector.list_procedures(context())
    civil = await connector.list_procedures(context(), sector_code="TP.HT")
    assert len(everything) > len(civil) > 0
    assert {p.sector_code for p in civil} == {"TP.HT"}
    one = await connector.get_procedure(civil[0].code, context())
    assert one == civil[0]


async def test_unknown_procedure_is_not_found(connector: PortalConnector) -> None:
    """LayThuTuc for a code the portal does not know answers error_code 2: NotFound."""
    with pytest.raises(NotFound) as info:
        await connector.get_procedure("9.999999", context())
    assert info.value.fault_code == "NOT_FOUND"


async def test_created_dossier_can_be_looked_up(connector: PortalConnector) -> None:
    """DongBoHoSoMC with isUpdating=false creates it; TraCuuHoSo then returns it."""
    record = dossier()
    assert await connector.lookup_dossier(record.code, context()) is None
    result = await connector.sync_dossiers([record], is_updating=False, ctx=context())
    assert result.ok
    assert result.items[0].dossier_code == record.code
    held = await connector.lookup_dossier(record.code, context())
    assert held is not None
    assert held.status is DossierStatus.SUBMITTED
    assert held.dossier == record


async def test_batch_results_are_per_item(connector: PortalConnector) -> None:
    """One refused dossier (already exists) does not fail the others; each has its error."""
    existing, fresh = dossier(), dossier()
    await connector.sync_dossiers([existing], is_updating=False, ctx=context())
    result = await connector.sync_dossiers([existing, fresh], is_updating=False, ctx=context())
    assert not result.ok
    assert [item.ok for item in result.items] == [False, True]
    assert isinstance(result.items[0].error, AlreadyExists)
    assert result.items[0].error.fault_code == "ALREADY_EXISTS"
    assert result.failed == (result.items[0],)


async def test_update_with_the_right_is_updating_flag(connector: PortalConnector) -> None:
    """isUpdating=true changes a held dossier; updating an unknown one is NotFound per item."""
    record = dossier()
    await connector.sync_dossiers([record], is_updating=False, ctx=context())
    accepted = record.model_copy(update={"status": DossierStatus.ACCEPTED})
    assert (await connector.sync_dossiers([accepted], is_updating=True, ctx=context())).ok
    held = await connector.lookup_dossier(record.code, context())
    assert held is not None
    assert held.status is DossierStatus.ACCEPTED
    missing = await connector.sync_dossiers([dossier()], is_updating=True, ctx=context())
    assert isinstance(missing.items[0].error, NotFound)


async def test_illegal_move_is_refused_per_item(connector: PortalConnector) -> None:
    """Moving a submitted dossier straight to 'processed' is an IllegalMove."""
    record = dossier()
    await connector.sync_dossiers([record], is_updating=False, ctx=context())
    jump = record.model_copy(update={"status": DossierStatus.PROCESSED})
    result = await connector.sync_dossiers([jump], is_updating=True, ctx=context())
    assert isinstance(result.items[0].error, IllegalMove)


async def test_progress_goes_in_the_portal_shape_and_lookup_lists_it(
    connector: PortalConnector, mock: MockServer
) -> None:
    """Steps go as OpenCPS's records (dates from the dossier); a resent step is applied again —
    the portal cannot tell — and the lookup lists every step held, in order."""
    record = dossier().model_copy(
        update={"due_at": dt.datetime.now(VN_TZ).replace(microsecond=0) + dt.timedelta(days=3)}
    )
    await connector.sync_dossiers([record], is_updating=False, ctx=context())
    first = event(record.code, 1, DossierStatus.ACCEPTED)
    second = event(record.code, 2, DossierStatus.PROCESSING).model_copy(update={"note": "Xử lý"})
    steps = [ProgressStep(e, record.received_at, record.due_at) for e in (first, second)]
    result = await connector.push_progress(steps, context())
    assert result.ok
    assert (await connector.push_progress(steps[1:], context())).ok
    held = mock.get(f"/_admin/portal/dossiers/{record.code}")
    assert [step["NoiDungXuLy"] for step in held["progress"]] == [
        "Tiếp nhận hồ sơ",
        "Xử lý",
        "Xử lý",
    ]
    assert [step["arrived"] for step in held["progress"]] == [1, 2, 2]
    assert held["progress"][0]["NgayBatDau"] == to_portal_time(record.received_at)
    assert record.due_at is not None
    assert held["progress"][0]["NgayKetThucTheoQuyDinh"] == to_portal_time(record.due_at)
    assert "ThuTu" not in held["progress"][0]
    found = await connector.lookup_dossier(record.code, context())
    assert found is not None
    assert [s["NoiDungXuLy"] for s in found.steps] == ["Tiếp nhận hồ sơ", "Xử lý", "Xử lý"]
    assert found.status is DossierStatus.PROCESSING


async def test_unconvertible_record_fails_alone_and_is_not_sent(
    connector: PortalConnector, mock: MockServer
) -> None:
    """A step whose time the portal's form cannot hold (year 9999) is refused as UNCONVERTIBLE
    without being sent; the step beside it goes."""
    record = dossier()
    await connector.sync_dossiers([record], is_updating=False, ctx=context())
    far = dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC)
    poison = event(record.code, 1, DossierStatus.ACCEPTED).model_copy(update={"occurred_at": far})
    healthy = event(record.code, 2, DossierStatus.ACCEPTED)
    result = await connector.push_progress([ProgressStep(poison), ProgressStep(healthy)], context())
    assert isinstance(result.items[0].error, InvalidRequest)
    assert result.items[0].error.fault_code == "UNCONVERTIBLE"
    assert result.items[1].ok
    assert len(mock.get(f"/_admin/portal/dossiers/{record.code}")["progress"]) == 1


async def test_progress_for_unknown_dossier_is_not_found(connector: PortalConnector) -> None:
    """A step for a dossier the portal does not hold is NotFound for that item."""
    record = dossier()
    result = await connector.push_progress(
        [ProgressStep(event(record.code, 1, DossierStatus.ACCEPTED))], context()
    )
    assert isinstance(result.items[0].error, NotFound)


async def test_large_batches_are_split(dev_keys: Path, mock: MockServer) -> None:
    """With a batch size of 2, five dossiers go in three calls and give five results in order."""
    recorder = MemoryRecorder()
    c = make(dev_keys, f"{mock.url}/portal", recorder=recorder, batch_size=2)
    records = [dossier() for _ in range(5)]
    try:
        result = await c.sync_dossiers(records, is_updating=False, ctx=context())
    finally:
        await c.aclose()
    assert result.ok
    assert [item.dossier_code for item in result.items] == [r.code for r in records]
    assert [e.operation for e in recorder.exchanges].count("DongBoHoSoMC") == 3


async def test_expired_session_logs_in_again(connector: PortalConnector, mock: MockServer) -> None:
    """When the portal ends every session, the next call logs in again once and succeeds."""
    await connector.list_procedures(context())
    mock.admin.delete("/_admin/portal/sessions").raise_for_status()
    await connector.list_procedures(context())
    assert connector.sessions.fetches == 2


async def test_wrong_password_is_rejected_permanently(dev_keys: Path, mock: MockServer) -> None:
    """Login error_code 6 (wrong credentials) is an UpstreamRejected, not retried."""
    c = make(dev_keys, f"{mock.url}/portal", password="wrong")
    try:
        with pytest.raises(UpstreamRejected) as info:
            await c.list_procedures(context())
    finally:
        await c.aclose()
    assert info.value.fault_code == "BAD_CREDENTIALS"
    assert c.resilience.attempts == 1


async def test_unit_mismatch_is_rejected_permanently(dev_keys: Path, mock: MockServer) -> None:
    """error_code 8 (madonvi not the session's unit): UpstreamRejected, one attempt, no re-login.

    The connector's unit is changed after it logged in, so its cached session belongs to the
    former unit; the portal refuses the write and stores nothing.
    """
    c = make(dev_keys, f"{mock.url}/portal")
    record = dossier()
    try:
        await c.list_procedures(context())
        attempts = c.resilience.attempts
        c.agency_code = "000.00.05.H05"
        with pytest.raises(UpstreamRejected) as info:
            await c.sync_dossiers([record], is_updating=False, ctx=context())
    finally:
        await c.aclose()
    assert info.value.fault_code == "UNIT_MISMATCH"
    assert not info.value.retryable
    assert c.resilience.attempts == attempts + 1
    assert c.sessions.fetches == 1
    assert mock.admin.get(f"/_admin/portal/dossiers/{record.code}").status_code == 404


async def test_login_password_and_sessions_are_named_as_secrets(
    dev_keys: Path, mock: MockServer
) -> None:
    """The login exchange names its password and the session it opened as secrets, and every
    service call names the session it carries: the recorder knows what it must not keep."""
    recorder = MemoryRecorder()
    c = make(dev_keys, f"{mock.url}/portal", recorder=recorder)
    try:
        await c.list_procedures(context())
    finally:
        await c.aclose()
    login, call = recorder.exchanges
    session = c.sessions.current
    assert login.operation == "Login"
    assert session is not None
    assert dict(login.secrets) == {"password": SANDBOX_PASSWORD, "session": session.value}
    assert dict(call.secrets) == {"session": session.value}


async def test_dropped_progress_answer_is_not_retried_by_the_connector(
    dev_keys: Path, mock: MockServer
) -> None:
    """The portal applies a step and the answer is lost: the connector does not resend it (the
    portal would apply it twice) but raises, even with retries configured."""
    c = make(dev_keys, f"{mock.url}/portal", attempt=0.5, attempts=3)
    record = dossier()
    try:
        await c.sync_dossiers([record], is_updating=False, ctx=context())
        mock.faults("portal", drop_after_commit=1.0, drop_count=1, stall_seconds=5)
        step = ProgressStep(event(record.code, 1, DossierStatus.ACCEPTED))
        with pytest.raises(UpstreamTimeout):
            await c.push_progress([step], context())
    finally:
        await c.aclose()
    held = mock.get(f"/_admin/portal/dossiers/{record.code}")
    assert [step["arrived"] for step in held["progress"]] == [1]


async def test_outage_opens_the_breaker_and_recovery_closes_it(
    dev_keys: Path, mock: MockServer
) -> None:
    """503 (error_code 9) trips the breaker; after the reset timeout a probe closes it."""
    c = make(dev_keys, f"{mock.url}/portal", attempts=1, threshold=2, reset=0.3)
    try:
        await c.list_procedures(context())  # logged in before the outage
        mock.faults("portal", outage=True)
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable):
                await c.list_procedures(context())
        with pytest.raises(CircuitOpen):
            await c.list_procedures(context())
        mock.clear_faults()
        await asyncio.sleep(0.35)
        assert await c.list_procedures(context())
        assert c.health().ready
    finally:
        await c.aclose()


@pytest.mark.parametrize(
    ("mode", "reasons"),
    [
        ("strip", {"missing_signature"}),
        ("tamper", {"digest_mismatch"}),
        ("foreign", {"unexpected_party"}),
    ],
)
async def test_answers_with_bad_signatures_are_refused(
    dev_keys: Path, mock: MockServer, mode: str, reasons: set[str]
) -> None:
    """Unsigned, altered and foreign-signed answers are refused (through a proxy)."""
    with running_proxy(mock.url, dev_keys, "registry") as (url, proxy):
        c = make(dev_keys, f"{url}/portal")
        try:
            await c.list_procedures(context())
            proxy.mode = mode
            with pytest.raises(BadUpstreamSignature) as info:
                await c.list_procedures(context())
        finally:
            await c.aclose()
    assert info.value.fault_code in reasons
