"""Apologies: drafted when a dossier falls overdue (or at risk), confirmed once, moving the due
date and queuing the dossier for the portal; printed as a one-page PDF read back by pdftotext.

The dossier (``make_dossier``) was received Thursday 26 Nov 2026 08:30; its procedure takes one
working day, so it is due Friday 27 Nov 17:00.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.models import Dossier
from schemas.times import VN_TZ
from schemas.wire.portal import dossier_to_portal
from store.db import create_sessionmaker
from store.dossier_batch import DossierWrite, PutDossier, record_writes
from store.dossiers import get_dossier
from store.tables.outbox import outbox
from tests.support.stores import make_dossier
from timeliness.apology import (
    ApologyState,
    ApologyTrigger,
    confirm_apology,
    list_apologies,
)
from timeliness.apology_pdf import render_apology_pdf
from timeliness.errors import ApologyAlreadyDecided, ApologyNotFound, InvalidAppointment
from timeliness.service import Timeliness


def vn(day: int, hour: int, month: int = 11, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=VN_TZ)


DUE = vn(27, 17)


def _timeliness(*, on_at_risk: bool = False) -> Timeliness:
    parts = Timeliness.build(apology_on_at_risk=on_at_risk, extension_working_days=3)
    parts.procedures.replace({"1.001234": 1})
    return parts


async def _register(engine: AsyncEngine, parts: Timeliness, serial: int = 1) -> Dossier:
    async with create_sessionmaker(engine)() as session, session.begin():
        (write,) = await record_writes(
            session, [PutDossier(make_dossier(serial))], rules=parts.rules
        )
    assert isinstance(write, DossierWrite)
    assert write.record.dossier.due_at == DUE
    return write.record.dossier


async def test_overdue_dossier_gets_one_draft_with_a_proposed_date(engine: AsyncEngine) -> None:
    """Before the due time nothing is drafted; after it one draft proposes three working days
    after today (Monday 30 Nov -> Thursday 3 Dec 17:00); a second pass drafts nothing more."""
    parts = _timeliness()
    await _register(engine, parts)
    sessions = create_sessionmaker(engine)
    assert await parts.draft_apologies(sessions, vn(27, 16)) == 0
    assert await parts.draft_apologies(sessions, vn(30, 9)) == 1
    assert await parts.draft_apologies(sessions, vn(30, 10)) == 0
    async with sessions() as session:
        (apology,) = await list_apologies(session, state=ApologyState.DRAFT)
    assert apology.trigger is ApologyTrigger.OVERDUE
    assert apology.original_due_at == DUE
    assert apology.proposed_due_at == vn(3, 17, month=12)


async def test_at_risk_drafts_only_when_configured(engine: AsyncEngine) -> None:
    """Friday 27 Nov 10:00 (7 office hours left) is at risk: a draft only if configured."""
    plain = _timeliness()
    await _register(engine, plain)
    sessions = create_sessionmaker(engine)
    assert await plain.draft_apologies(sessions, vn(27, 10)) == 0
    eager = _timeliness(on_at_risk=True)
    assert await eager.draft_apologies(sessions, vn(27, 10)) == 1
    async with sessions() as session:
        (apology,) = await list_apologies(session)
    assert apology.trigger is ApologyTrigger.AT_RISK


async def test_confirming_moves_the_due_date_and_queues_the_dossier(engine: AsyncEngine) -> None:
    """Confirming sets the dossier's due date to the appointment, queues a sync_dossier whose
    NgayHenTra is that date, and a draft is confirmed once only."""
    parts = _timeliness()
    dossier = await _register(engine, parts)
    sessions = create_sessionmaker(engine)
    await parts.draft_apologies(sessions, vn(30, 9))
    async with sessions() as session:
        (draft,) = await list_apologies(session)
    async with sessions() as session:
        before = await session.scalar(select(func.count()).select_from(outbox))
    async with sessions() as session, session.begin():
        confirmed, write = await confirm_apology(
            session, dossier.code, draft.id, by="province-app", now=vn(30, 10), rules=parts.rules
        )
    assert confirmed.state is ApologyState.CONFIRMED
    assert write.record.dossier.due_at == vn(3, 17, month=12)
    async with sessions() as session:
        stored = await get_dossier(session, dossier.code)
        last = (
            await session.execute(select(outbox.c.kind, outbox.c.payload).order_by(outbox.c.id))
        ).all()[-1]
    assert stored is not None
    assert stored.deadline.due_at == vn(3, 17, month=12)
    assert stored.deadline.due_warning is None  # an agreed appointment is not a contradiction
    assert len(await _all_outbox(engine)) == before + 1
    assert last.kind == "sync_dossier"
    assert dossier_to_portal(Dossier.model_validate(last.payload))["NgayHenTra"] == "20261203170000"
    with pytest.raises(ApologyAlreadyDecided):
        async with sessions() as session, session.begin():
            await confirm_apology(
                session, dossier.code, draft.id, by="x", now=vn(30, 11), rules=parts.rules
            )


async def _all_outbox(engine: AsyncEngine) -> list[object]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(outbox.c.id))).all())


async def test_confirm_refuses_an_earlier_date_and_another_dossier(engine: AsyncEngine) -> None:
    """A new appointment not after the old due date is refused; an apology is found only under
    its own dossier."""
    parts = _timeliness()
    first = await _register(engine, parts, 1)
    second = await _register(engine, parts, 2)
    sessions = create_sessionmaker(engine)
    await parts.draft_apologies(sessions, vn(30, 9))
    async with sessions() as session:
        drafts = {a.dossier_code: a for a in await list_apologies(session)}
    apology = drafts[first.code]
    with pytest.raises(InvalidAppointment):
        async with sessions() as session, session.begin():
            await confirm_apology(
                session,
                first.code,
                apology.id,
                by="x",
                now=vn(30, 10),
                rules=parts.rules,
                new_due_at=vn(27, 16),
            )
    with pytest.raises(ApologyNotFound):
        async with sessions() as session, session.begin():
            await confirm_apology(
                session, second.code, apology.id, by="x", now=vn(30, 10), rules=parts.rules
            )


def _pdftotext() -> str:
    path = shutil.which("pdftotext")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftotext is required here (apt-get install poppler-utils)")
        pytest.skip("pdftotext is not installed")
    return path


def test_pdf_reads_back_with_its_diacritics(tmp_path: Path) -> None:
    """The one-page PDF names the agency, the dossier, the applicant and both dates, and
    pdftotext reads its Vietnamese back letter for letter."""
    from timeliness.apology import Apology

    tool = _pdftotext()
    dossier = make_dossier(7).model_copy(
        update={"applicant_name": "Nguyễn Thị Ánh Tuyết", "due_at": DUE, "title": "Đăng ký hộ tịch"}
    )
    apology = Apology(
        id=4,
        dossier_code=dossier.code,
        state=ApologyState.DRAFT,
        trigger=ApologyTrigger.OVERDUE,
        original_due_at=DUE,
        proposed_due_at=vn(3, 17, month=12),
        reason="Hồ sơ cần xác minh thêm ở cấp huyện.",
        created_at=vn(30, 9),
        confirmed_at=None,
        confirmed_by=None,
    )
    pdf = render_apology_pdf(apology, dossier, agency_name="Ủy ban nhân dân xã Đông Hưng")
    path = tmp_path / "apology.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        [tool, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=30
    ).stdout.decode("utf-8")
    flat = " ".join(text.split())
    for expected in (
        "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Kính gửi: Ông/Bà Nguyễn Thị Ánh Tuyết",
        "Ủy ban nhân dân xã Đông Hưng",
        dossier.code,
        "Đăng ký hộ tịch",
        "17 giờ 00 ngày 27/11/2026",
        "17 giờ 00 ngày 03/12/2026",
        "Hồ sơ cần xác minh thêm ở cấp huyện.",
    ):
        assert expected in flat, expected
    pages = subprocess.run(
        ["pdfinfo", str(path)], capture_output=True, check=True, timeout=30, text=True
    ).stdout
    assert "Pages:           1" in pages
