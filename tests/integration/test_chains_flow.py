"""Chains end to end over real HTTP: the store, the chain worker, the agency mocks, the portal.

Each test takes a chain in, runs the chain worker against the mock agency systems (signed both
ways, not deduplicating), then the sync worker against the portal mock, and checks what every
side holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from chains.runtime import ChainRuntime
from chains.views import chain_view
from schemas.times import VN_TZ
from store.db import create_sessionmaker
from tests.integration.chains_support import (
    AgencyMock,
    birth_filing,
    chain_runtime,
    close,
    death_filing,
    file,
    running_agency_mock,
)
from tests.integration.sync_support import PortalMock, worker_for
from tests.support.stores import FakeClock
from timeliness.report import GroupBy, ReportQuery, timeliness_report


@pytest.fixture(scope="module")
def agency_mock(dev_keys: Path) -> Iterator[AgencyMock]:
    """One mock server for the module."""
    with running_agency_mock(dev_keys) as mock:
        yield mock


@pytest.fixture
def mock(agency_mock: AgencyMock) -> AgencyMock:
    """The mock, reset before each test."""
    agency_mock.reset()
    return agency_mock


def _people(mock: AgencyMock) -> list[str]:
    return [c["citizen_id"] for c in mock.citizens(20)]


async def _view(runtime: ChainRuntime, engine: AsyncEngine, code: str):  # type: ignore[no-untyped-def]
    async with create_sessionmaker(engine)() as session:
        return await chain_view(session, code, runtime.definitions, runtime.calendar)


async def _sync_portal(engine: AsyncEngine, mock: AgencyMock, keys: Path) -> None:
    worker, connector = worker_for(engine, PortalMock(mock.base_url, mock.admin), keys, FakeClock())
    try:
        await worker.drain()
    finally:
        await connector.aclose()


async def test_birth_chain_end_to_end(
    engine: AsyncEngine, mock: AgencyMock, dev_keys: Path
) -> None:
    """Birth → residence → card: the newborn's PIN comes from the population database and
    feeds the next steps; every step's progress reaches the portal; the chain is on time."""
    runtime = chain_runtime(engine, mock, dev_keys)
    mother = _people(mock)[0]
    filing = birth_filing(1, mother, received_at=dt.datetime.now(VN_TZ))
    try:
        taken = await file(runtime, engine, filing)
        assert taken.created
        settled = await runtime.worker().drain()
    finally:
        await close(runtime)
    assert settled == 3
    view = await _view(runtime, engine, filing.dossier_code)
    assert view.state == "completed"
    assert [s.state for s in view.steps] == ["done", "done", "done"]
    birth, residence, card = view.steps
    assert birth.result_reference is not None
    assert birth.result_reference.startswith("KS-")
    assert residence.result_reference is not None
    assert residence.result_reference.startswith("TT-")
    assert card.result_reference is not None
    assert card.result_reference.startswith("TE1")
    # the PIN the civil-status system got from the population database fed the later steps
    (registered,) = mock.requests("civil-status")
    pin = registered["result"]["pin"]
    child = mock.citizen(pin)
    assert child is not None
    assert child["full_name"] == "Nguyễn Thị Bé"
    assert child["permanent_address"] == filing.subject["address"]
    (residence_request,) = mock.requests("residence")
    (card_request,) = mock.requests("social-security")
    assert residence_request["reference"] == f"{filing.dossier_code}_residence"
    assert card_request["result"]["card_number"] == card.result_reference
    assert not view.late
    assert view.working_days_limit == 3
    # the portal holds the chain dossier with every step's progress, processed at the end
    await _sync_portal(engine, mock, dev_keys)
    held = mock.held(filing.dossier_code)
    assert held is not None
    assert held["status"] == 9
    # three results and the completion, the certificate number among them
    assert len(held["progress"]) == 4
    assert birth.result_reference in " ".join(map(str, held["progress"]))


async def test_death_chain_end_to_end(
    engine: AsyncEngine, mock: AgencyMock, dev_keys: Path
) -> None:
    """Death → removal of residence → funeral allowance, each agency once, the chain done."""
    runtime = chain_runtime(engine, mock, dev_keys)
    deceased, claimant = _people(mock)[1:3]
    filing = death_filing(2, deceased, claimant)
    try:
        await file(runtime, engine, filing)
        await runtime.worker().drain()
    finally:
        await close(runtime)
    view = await _view(runtime, engine, filing.dossier_code)
    assert view.state == "completed"
    assert [s.agency for s in view.steps] == ["civil-status", "residence", "social-security"]
    refs = [s.result_reference or "" for s in view.steps]
    assert refs[0].startswith("KT-")
    assert refs[1].startswith("XTT-")
    assert refs[2].startswith("QD-")
    for agency in ("civil-status", "residence", "social-security"):
        assert len(mock.requests(agency)) == 1
    (removal,) = mock.requests("residence")
    assert removal["reference"].endswith("_residence")


async def test_refusal_at_residence_stops_and_keeps_the_birth_certificate(
    engine: AsyncEngine, mock: AgencyMock, dev_keys: Path
) -> None:
    """A refusal at the residence step stops the chain there with the reason; the birth
    certificate already issued is kept and reported (here and at the portal); the card step
    is never sent."""
    mock.behave("residence", mode="refuse", reason="địa chỉ không có trong cơ sở dữ liệu cư trú")
    runtime = chain_runtime(engine, mock, dev_keys)
    filing = birth_filing(3, _people(mock)[0])
    try:
        await file(runtime, engine, filing)
        await runtime.worker().drain()
    finally:
        await close(runtime)
    view = await _view(runtime, engine, filing.dossier_code)
    assert view.state == "stopped"
    assert view.stopped_step == "residence"
    assert view.stopped_reason == "địa chỉ không có trong cơ sở dữ liệu cư trú"
    assert [s.state for s in view.steps] == ["done", "refused", "not_reached"]
    certificate = view.steps[0].result_reference
    assert certificate is not None
    assert certificate.startswith("KS-")
    assert mock.requests("social-security") == []
    assert len(mock.requests("civil-status")) == 1  # issued once, never undone or redone
    await _sync_portal(engine, mock, dev_keys)
    held = mock.held(filing.dossier_code)
    assert held is not None
    assert held["status"] == 8
    assert certificate in str(held["progress"][-1])


async def test_verification_extends_the_deadlines(
    engine: AsyncEngine, mock: AgencyMock, dev_keys: Path
) -> None:
    """The residence system asks for verification and decides two days later: the chain's
    deadline moves from 3 to 5 working days, the residence step's from 2 to 5."""
    mock.behave("residence", mode="verify", days=2)
    clock = FakeClock()
    runtime = chain_runtime(engine, mock, dev_keys, poll=600, clock=clock)
    filing = birth_filing(4, _people(mock)[0])
    try:
        taken = await file(runtime, engine, filing)
        worker = runtime.worker(clock=clock)
        await worker.drain()
        view = await _view(runtime, engine, filing.dossier_code)
        assert [s.state for s in view.steps] == ["done", "verification", "waiting"], view.steps[1]
        # filed Thursday 26 Nov 2026 at 09:00: 3 working days → Tue 1 Dec; 5 → Thu 3 Dec
        assert taken.due_at == dt.datetime(2026, 12, 1, 17, 0, tzinfo=VN_TZ)
        assert view.verification
        assert view.working_days_limit == 5
        assert view.due_at == dt.datetime(2026, 12, 3, 17, 0, tzinfo=VN_TZ)
        residence = view.steps[1]
        started = residence.started_at
        assert started is not None
        assert residence.due_at == runtime.calendar.due_at(started, 5)
        assert residence.due_at != runtime.calendar.due_at(started, 2)
        mock.advance(3)
        clock.advance(600)
        await worker.drain()
    finally:
        await close(runtime)
    view = await _view(runtime, engine, filing.dossier_code)
    assert view.state == "completed"
    assert len(mock.requests("residence")) == 1


async def test_a_dropped_answer_is_read_back_not_sent_twice(
    engine: AsyncEngine, mock: AgencyMock, dev_keys: Path
) -> None:
    """The residence system applies a request and its answer is lost (a timeout): the worker
    reads the step back by its reference and does not register the child twice."""
    mock.faults("residence", drop_after_commit=1.0, drop_count=1, stall_seconds=5)
    clock = FakeClock()
    runtime = chain_runtime(engine, mock, dev_keys, attempt=0.5, clock=clock)
    filing = birth_filing(5, _people(mock)[0])
    try:
        await file(runtime, engine, filing)
        worker = runtime.worker(clock=clock)
        for _ in range(10):
            await worker.drain()
            clock.advance(5)
            view = await _view(runtime, engine, filing.dossier_code)
            if view.state != "running":
                break
    finally:
        await close(runtime)
    assert view.state == "completed"
    assert len(mock.requests("residence")) == 1
    assert view.steps[1].attempts >= 2


async def test_chain_timeliness_joins_the_timeliness_report(
    engine: AsyncEngine, mock: AgencyMock, dev_keys: Path
) -> None:
    """A completed chain is a dossier resolved against the chain's deadline, a stopped one is
    closed: the timeliness report counts both under the chain's sector."""
    received = dt.datetime.now(VN_TZ).replace(microsecond=0)
    runtime = chain_runtime(engine, mock, dev_keys)
    mother = _people(mock)[0]
    try:
        await file(runtime, engine, birth_filing(11, mother, received_at=received))
        await runtime.worker().drain()
        mock.behave("residence", mode="refuse", reason="không đủ điều kiện")
        await file(runtime, engine, birth_filing(12, mother, received_at=received))
        await runtime.worker().drain()
    finally:
        await close(runtime)
    day = received.date()
    query = ReportQuery(start=day, end=day, group_by=GroupBy.SECTOR)
    async with create_sessionmaker(engine)() as session:
        report = await timeliness_report(session, query, dt.datetime.now(dt.UTC))
    (row,) = [r for r in report.rows if r.key == "TP.HT"]
    assert row.received == 2
    assert row.resolved == 1
    assert row.early + row.on_time == 1
    assert row.closed == 1
