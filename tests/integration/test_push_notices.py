"""Notices to applicants against the ZNS and SMS mocks on real HTTP, on SQLite and PostgreSQL.

Sent once per event (also when the notifier runs again), by SMS when ZNS refuses, held through
quiet hours, never after an opt-out or without consent; no phone number or name in the logs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mock_endpoints.app import create_mock_app
from mock_endpoints.settings import MockSettings
from mock_endpoints.sms import API_KEY, BRANDNAME, SECRET_KEY
from mock_endpoints.zns import ACCESS_TOKEN
from push.notices.channels import SmsChannel, ZnsChannel
from push.notices.notifier import Notifier, NotifierSettings
from push.notices.outbox import SqlNotices
from push.notices.quiet_hours import QuietHours
from push.notices.templates import Rendered, load_templates
from schemas.status import DossierStatus
from store.db import create_sessionmaker
from store.dossiers import record_event
from store.push_writes import NoticeEvent, enqueue_notice
from tests.support.push import record_lifecycles
from tests.support.servers import serve_app
from tests.support.stores import FakeClock, dossier_code, make_event

PHONE = "84912345678"
#: the lifecycle's events that matter to the applicant: accepted, fees due, processed, delivered
NOTICED = 4


class Mocks:
    """The ZNS and SMS mocks: their URLs and admin read-back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.admin = httpx.Client(base_url=url, timeout=10)

    def zns(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.admin.get("/_admin/zns/messages").json()["messages"]
        return messages

    def sms(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.admin.get("/_admin/sms/messages").json()["messages"]
        return messages

    def configure_zns(self, **config: Any) -> None:
        self.admin.put("/_admin/zns/config", json=config).raise_for_status()


@pytest.fixture(scope="module")
def served(dev_keys: Path) -> Iterator[Mocks]:
    """ZNS and SMS mocks for the module."""
    app = create_mock_app(MockSettings(keys_dir=dev_keys, only=frozenset({"zns", "sms"})))
    with serve_app(app) as url:
        mocks = Mocks(url)
        yield mocks
        mocks.admin.close()


@pytest.fixture
def mocks(served: Mocks) -> Mocks:
    """The mocks, emptied and configured as shipped."""
    served.admin.delete("/_admin/zns/messages").raise_for_status()
    served.admin.delete("/_admin/sms/messages").raise_for_status()
    served.configure_zns(no_zalo=[], refused_templates=[], daily_quota=100_000)
    return served


def _daytime() -> FakeClock:
    """10:00 in Vietnam tomorrow (after every notice enqueued now)."""
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    return FakeClock(tomorrow.replace(hour=3, minute=0, second=0, microsecond=0))


@pytest.fixture
async def notifier_parts(
    engine: AsyncEngine, mocks: Mocks
) -> AsyncIterator[tuple[Notifier, SqlNotices, FakeClock]]:
    """A notifier on the mocks with a settable clock, quiet hours 21:00–07:00."""
    clock = _daytime()
    notices = SqlNotices(engine, clock=clock)
    zns = ZnsChannel(f"{mocks.url}/zns/message/template", ACCESS_TOKEN, timeout=5)
    sms = SmsChannel(
        f"{mocks.url}/sms/SendMultipleMessage_V4_post_json/",
        API_KEY,
        SECRET_KEY,
        BRANDNAME,
        timeout=5,
    )
    notifier = Notifier(
        notices,
        load_templates(),
        zns=zns,
        sms=sms,
        settings=NotifierSettings(quiet_hours=QuietHours.parse("21:00-07:00")),
        clock=clock,
    )
    yield notifier, notices, clock
    await zns.aclose()
    await sms.aclose()


async def _applicant(engine: AsyncEngine, serial: int, *, consent: bool = True) -> None:
    await SqlNotices(engine).set_contact(dossier_code(serial), PHONE, consent=consent)


async def test_a_notice_goes_once_per_event_by_zns(
    engine: AsyncEngine,
    mocks: Mocks,
    notifier_parts: tuple[Notifier, SqlNotices, FakeClock],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each noticed status sends one ZNS message with its own tracking id; running again, or the
    same event recorded again, sends nothing more; no phone or name reaches the logs."""
    notifier, notices, _ = notifier_parts
    await record_lifecycles(engine, range(1, 2), steps=1)
    await _applicant(engine, 1)
    sessions = create_sessionmaker(engine)
    for sequence, status in enumerate(
        ["PROCESSING", "PROCESSING", "FEES_DUE", "PROCESSING", "PROCESSED", "RESULT_DELIVERED"],
        start=2,
    ):
        async with sessions() as session, session.begin():
            await record_event(session, make_event(1, sequence, DossierStatus[status]))
    async with sessions() as session, session.begin():  # a client's retry of a recorded step
        await record_event(session, make_event(1, 4, DossierStatus.FEES_DUE))
    with caplog.at_level(logging.DEBUG):
        await notifier.drain()
        await notifier.drain()
    sent = mocks.zns()
    assert len(sent) == NOTICED
    assert len({m["tracking_id"] for m in sent}) == NOTICED
    assert [m["template_id"] for m in sent] == ["260101", "260103", "260104", "260105"]
    assert all(m["phone"] == PHONE for m in sent)
    assert mocks.sms() == []
    views = await notices.for_dossier(dossier_code(1))
    assert [(v.event, v.state, v.channel) for v in views] == [
        (e, "delivered", "zns") for e in ("accepted", "fees_due", "result_ready", "delivered")
    ]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "notice" in logged
    assert PHONE not in logged
    assert "912345678" not in logged
    assert "Nguyễn Văn Thử" not in logged


async def test_zns_refusals_fall_back_to_sms(
    engine: AsyncEngine, mocks: Mocks, notifier_parts: tuple[Notifier, SqlNotices, FakeClock]
) -> None:
    """No Zalo account, a template not approved, quota used up: the notice goes by SMS, once."""
    notifier, notices, _ = notifier_parts
    mocks.configure_zns(no_zalo=[PHONE])
    await record_lifecycles(engine, range(1, 2), steps=1)
    await _applicant(engine, 1)
    await notifier.drain()
    assert mocks.zns() == []
    assert len(mocks.sms()) == 1
    assert mocks.sms()[0]["Content"].startswith("Ho so 000.00.04.H04-261126-0001")
    mocks.configure_zns(no_zalo=[], refused_templates=["260101"])
    await record_lifecycles(engine, range(2, 3), steps=1)
    await _applicant(engine, 2)
    await notifier.drain()
    mocks.configure_zns(refused_templates=[], daily_quota=0)
    await record_lifecycles(engine, range(3, 4), steps=1)
    await _applicant(engine, 3)
    await notifier.drain()
    assert mocks.zns() == []
    assert len(mocks.sms()) == 3
    assert len({m["RequestId"] for m in mocks.sms()}) == 3
    for serial in (1, 2, 3):
        (view,) = await notices.for_dossier(dossier_code(serial))
        assert (view.state, view.channel) == ("delivered", "sms")


async def test_quiet_hours_hold_a_notice_until_morning(
    engine: AsyncEngine, mocks: Mocks, notifier_parts: tuple[Notifier, SqlNotices, FakeClock]
) -> None:
    """At 23:00 nothing is sent; at 07:00 the notice goes, once."""
    notifier, notices, clock = notifier_parts
    clock.now = clock.now.replace(hour=16)  # 23:00 in Vietnam
    await record_lifecycles(engine, range(1, 2), steps=1)
    await _applicant(engine, 1)
    await notifier.drain()
    assert mocks.zns() == []
    (view,) = await notices.for_dossier(dossier_code(1))
    assert (view.state, view.attempts) == ("pending", 0)
    clock.advance(7 * 3600 + 59 * 60)  # 06:59
    await notifier.drain()
    assert mocks.zns() == []
    clock.advance(60)  # 07:00
    await notifier.drain()
    await notifier.drain()
    assert len(mocks.zns()) == 1


async def test_nothing_is_sent_after_an_opt_out_or_without_consent(
    engine: AsyncEngine, mocks: Mocks, notifier_parts: tuple[Notifier, SqlNotices, FakeClock]
) -> None:
    """An opted-out phone gets nothing, whatever the dossier; a dossier without consent neither."""
    notifier, notices, _ = notifier_parts
    await record_lifecycles(engine, range(1, 3), steps=1)
    await _applicant(engine, 1)
    await _applicant(engine, 2, consent=False)
    await notices.opt_out(PHONE)
    await notifier.drain()
    assert mocks.zns() == []
    assert mocks.sms() == []
    skipped = [await notices.for_dossier(dossier_code(s)) for s in (1, 2)]
    assert [(v[0].state, v[0].last_error) for v in skipped] == [
        ("skipped", "opted out"),
        ("skipped", "no consent"),
    ]


async def test_an_apology_event_is_noticed_once_with_its_new_date(
    engine: AsyncEngine, mocks: Mocks, notifier_parts: tuple[Notifier, SqlNotices, FakeClock]
) -> None:
    """The apology hook queues one notice per key, rendered with the new due date."""
    notifier, _, _ = notifier_parts
    await record_lifecycles(engine, range(1, 2), steps=0)
    await _applicant(engine, 1)
    sessions = create_sessionmaker(engine)
    for _ in range(2):
        async with sessions() as session, session.begin():
            await enqueue_notice(
                session,
                dossier_code(1),
                NoticeEvent.APOLOGY,
                key="apology-1",
                extra={"new_due_at": "2026-12-15T08:00:00+07:00", "reason": "chờ xác minh"},
            )
    await notifier.drain()
    (message,) = mocks.zns()
    assert message["template_id"] == "260106"
    assert message["template_data"]["ngay_hen_moi"] == "15/12/2026"


async def test_an_sms_sent_twice_under_one_tracking_id_goes_out_once(mocks: Mocks) -> None:
    """The SMS provider refuses a second RequestId; the channel counts that as already sent."""
    sms = SmsChannel(
        f"{mocks.url}/sms/SendMultipleMessage_V4_post_json/", API_KEY, SECRET_KEY, BRANDNAME
    )
    notice = Rendered("260101", {"ma_ho_so": "x"}, "Ho so x da duoc tiep nhan.")
    try:
        first = await sms.send(PHONE, notice, "t-0001")
        again = await sms.send(PHONE, notice, "t-0001")
    finally:
        await sms.aclose()
    assert first.verdict.value == again.verdict.value == "sent"
    assert len(mocks.sms()) == 1
