"""Due dates, pauses and resolution as the store records them (SQLite and PostgreSQL).

Received Thursday 26 Nov 2026 08:30 (``make_dossier``), procedure 1.001234 takes five working
days: Fri 27 (1), Mon 30 (2), Tue 1 Dec (3), Wed 2 (4), Thu 3 (5) — due Thursday 3 Dec 17:00.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.times import VN_TZ
from schemas.wire.portal import dossier_to_portal
from store.db import create_sessionmaker
from store.deadline_rules import Outcome
from store.dossier_batch import DossierWrite, EventWrite, PostEvent, PutDossier, record_writes
from store.dossiers import get_dossier
from store.tables.dossiers import dossiers
from store.tables.outbox import outbox
from tests.support.stores import make_dossier
from timeliness.calendar import WorkingCalendar
from timeliness.procedures import ProcedureDeadlines
from timeliness.rules import CalendarRules

S = DossierStatus
DUE = dt.datetime(2026, 12, 3, 17, 0, tzinfo=VN_TZ)


def vn(day: int, hour: int, month: int = 12) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=VN_TZ)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.load()


def rules_for(calendar: WorkingCalendar, *, pauses_count: bool = False) -> CalendarRules:
    return CalendarRules(calendar, ProcedureDeadlines({"1.001234": 5}), pauses_count=pauses_count)


async def _put(engine: AsyncEngine, dossier: Dossier, rules: CalendarRules) -> DossierWrite:
    async with create_sessionmaker(engine)() as session, session.begin():
        (result,) = await record_writes(session, [PutDossier(dossier)], rules=rules)
    assert isinstance(result, DossierWrite), result
    return result


async def _events(
    engine: AsyncEngine, code: str, steps: list[tuple[S, dt.datetime]], rules: CalendarRules
) -> None:
    writes = [
        PostEvent(DossierEvent(dossier_code=code, sequence=i, status=s, occurred_at=at))
        for i, (s, at) in enumerate(steps, start=1)
    ]
    async with create_sessionmaker(engine)() as session, session.begin():
        results = await record_writes(session, writes, rules=rules)
    assert all(isinstance(r, EventWrite) for r in results), results


async def test_due_date_is_computed_and_sent_to_the_portal(
    engine: AsyncEngine, calendar: WorkingCalendar
) -> None:
    """A dossier without a due date gets the procedure's (Thursday 3 Dec 17:00), stored in the
    document, the column, and the portal delivery, where it is NgayHenTra."""
    write = await _put(engine, make_dossier(1), rules_for(calendar))
    assert write.record.dossier.due_at == DUE
    assert write.warnings == ()
    async with engine.connect() as connection:
        column = await connection.scalar(select(dossiers.c.due_at))
        payload = await connection.scalar(select(outbox.c.payload))
    assert column == DUE
    delivered = Dossier.model_validate(payload)
    assert dossier_to_portal(delivered)["NgayHenTra"] == "20261203170000"


async def test_a_contradicting_due_date_is_kept_with_a_warning(
    engine: AsyncEngine, calendar: WorkingCalendar
) -> None:
    """A given due date on another day than the procedure's is stored as given, and the write
    and the stored dossier carry a warning naming both dates; one on the right day has none."""
    rules = rules_for(calendar)
    wrong = make_dossier(1).model_copy(update={"due_at": vn(1, 17)})
    write = await _put(engine, wrong, rules)
    assert write.record.dossier.due_at == vn(1, 17)
    assert len(write.warnings) == 1
    assert "2026-12-01" in write.warnings[0]
    assert "2026-12-03" in write.warnings[0]
    async with create_sessionmaker(engine)() as session:
        stored = await get_dossier(session, wrong.code)
    assert stored is not None
    assert stored.deadline.due_warning == write.warnings[0]
    right = make_dossier(2).model_copy(update={"due_at": vn(3, 11)})
    assert (await _put(engine, right, rules)).warnings == ()


async def test_an_update_without_due_date_keeps_the_stored_one(
    engine: AsyncEngine, calendar: WorkingCalendar
) -> None:
    """Sending the dossier again without a due date neither clears nor recomputes it."""
    rules = rules_for(calendar)
    await _put(engine, make_dossier(1).model_copy(update={"due_at": vn(9, 17)}), rules)
    again = await _put(engine, make_dossier(1, status=S.ACCEPTED), rules)
    assert again.record.dossier.due_at == vn(9, 17)


async def test_pause_in_documents_requested_moves_the_due_date(
    engine: AsyncEngine, calendar: WorkingCalendar
) -> None:
    """Documents requested Monday 30 Nov 10:00, supplied Thursday 3 Dec 14:00: three working
    days paused (1, 2, 3 Dec), so the due date moves to Tuesday 8 Dec (4, 7, 8 Dec); resolved
    Monday 7 Dec, the dossier is early."""
    rules = rules_for(calendar)
    dossier = make_dossier(1)
    await _put(engine, dossier, rules)
    await _events(
        engine,
        dossier.code,
        [
            (S.ACCEPTED, vn(26, 9, month=11)),
            (S.PROCESSING, vn(27, 9, month=11)),
            (S.MORE_DOCUMENTS_REQUESTED, vn(30, 10, month=11)),
            (S.PROCESSING, vn(3, 14)),
            (S.PROCESSED, vn(7, 10)),
        ],
        rules,
    )
    async with create_sessionmaker(engine)() as session:
        stored = await get_dossier(session, dossier.code)
    assert stored is not None
    facts = stored.deadline
    assert facts.paused_working_days == 3
    assert facts.paused_since is None
    assert facts.due_at == vn(8, 17)
    assert facts.resolved_at == vn(7, 10)
    assert facts.outcome is Outcome.EARLY
    assert stored.dossier.due_at == DUE  # the appointment itself is unchanged


async def test_paused_time_counted_against_the_agency_when_configured(
    engine: AsyncEngine, calendar: WorkingCalendar
) -> None:
    """With paused time counted, the same history is late (due Thursday 3 Dec stays)."""
    rules = rules_for(calendar, pauses_count=True)
    dossier = make_dossier(1)
    await _put(engine, dossier, rules)
    await _events(
        engine,
        dossier.code,
        [
            (S.ACCEPTED, vn(26, 9, month=11)),
            (S.MORE_DOCUMENTS_REQUESTED, vn(30, 10, month=11)),
            (S.PROCESSING, vn(3, 14)),
            (S.PROCESSED, vn(7, 10)),
        ],
        rules,
    )
    async with create_sessionmaker(engine)() as session:
        stored = await get_dossier(session, dossier.code)
    assert stored is not None
    assert (stored.deadline.due_at, stored.deadline.outcome) == (DUE, Outcome.LATE)
    assert stored.deadline.paused_working_days == 3


async def test_fees_due_then_withdrawn_is_closed_not_resolved(
    engine: AsyncEngine, calendar: WorkingCalendar
) -> None:
    """A dossier withdrawn while fees are due ends its pause and has no outcome."""
    rules = rules_for(calendar)
    dossier = make_dossier(1)
    await _put(engine, dossier, rules)
    await _events(
        engine,
        dossier.code,
        [
            (S.ACCEPTED, vn(26, 9, month=11)),
            (S.FEES_DUE, vn(27, 9, month=11)),
            (S.WITHDRAWN, vn(1, 9)),
        ],
        rules,
    )
    async with create_sessionmaker(engine)() as session:
        stored = await get_dossier(session, dossier.code)
    assert stored is not None
    assert stored.deadline.outcome is None
    assert stored.deadline.resolved_at is None
    assert stored.deadline.paused_working_days == 2  # 30 Nov, 1 Dec
