"""Chain deadlines on the working-day calendar, worked out by hand around Tết Bính Ngọ (2026).

Tết 2026: no work from Saturday 14 to Sunday 22 February. A filing at 15:05 on Friday
13 February is after the 15:00 cut-off, so it counts as received on the next working day,
Monday 23 February, and its count starts on Tuesday 24:

- the whole chain, 3 working days: Tue 24, Wed 25, Thu 26 → due Thursday 26 February, 17:00;
- a step handed on at that moment with 2 working days (residence, card): Tue 24, Wed 25 →
  due Wednesday 25 February, 17:00;
- with verification, 5 working days: Tue 24 … Fri 27, Mon 2 March → due Monday 2 March, 17:00.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from chains.views import chain_view
from schemas.times import VN_TZ
from store.db import create_sessionmaker
from tests.integration.chains_support import (
    AgencyMock,
    birth_filing,
    chain_runtime,
    close,
    file,
    running_agency_mock,
)
from tests.support.stores import FakeClock

FRIDAY_BEFORE_TET = dt.datetime(2026, 2, 13, 15, 5, tzinfo=VN_TZ)


def _close_of(day: int, month: int = 2) -> dt.datetime:
    return dt.datetime(2026, month, day, 17, 0, tzinfo=VN_TZ)


@pytest.fixture(scope="module")
def agency_mock(dev_keys: Path) -> Iterator[AgencyMock]:
    with running_agency_mock(dev_keys) as mock:
        yield mock


@pytest.fixture
def mock(agency_mock: AgencyMock) -> AgencyMock:
    agency_mock.reset()
    return agency_mock


async def test_a_step_handed_on_at_1505_on_the_friday_before_tet(
    engine: AsyncEngine, mock: AgencyMock, dev_keys: Path
) -> None:
    """Filed at 15:05 on the Friday before Tết and handed on at once: the chain is due on
    Thursday 26 February, the residence and card steps on Wednesday 25 February."""
    clock = FakeClock(FRIDAY_BEFORE_TET.astimezone(dt.UTC))
    runtime = chain_runtime(engine, mock, dev_keys, clock=clock)
    mother = mock.citizens(1)[0]["citizen_id"]
    filing = birth_filing(1, mother, received_at=FRIDAY_BEFORE_TET)
    try:
        taken = await file(runtime, engine, filing, now=clock.now)
        await runtime.worker(clock=clock).drain()
    finally:
        await close(runtime)
    assert taken.due_at == _close_of(26)
    async with create_sessionmaker(engine)() as session:
        view = await chain_view(
            session, filing.dossier_code, runtime.definitions, runtime.calendar, now=clock.now
        )
    birth, residence, card = view.steps
    assert birth.due_at is None  # no published limit of its own: the chain's bounds it
    assert residence.started_at == FRIDAY_BEFORE_TET
    assert residence.due_at == _close_of(25)
    assert card.due_at == _close_of(25)
    assert view.due_at == _close_of(26)
    assert view.working_days_used == 0  # finished before its count started
    assert not view.late


async def test_verification_before_tet_moves_the_deadline_past_the_holiday(
    engine: AsyncEngine, mock: AgencyMock, dev_keys: Path
) -> None:
    """The residence system asks for verification: the chain (5 days) and the residence step
    (5 days) are both due on Monday 2 March."""
    mock.behave("residence", mode="verify", days=1)
    clock = FakeClock(FRIDAY_BEFORE_TET.astimezone(dt.UTC))
    runtime = chain_runtime(engine, mock, dev_keys, clock=clock)
    mother = mock.citizens(1)[0]["citizen_id"]
    filing = birth_filing(2, mother, received_at=FRIDAY_BEFORE_TET)
    try:
        await file(runtime, engine, filing, now=clock.now)
        await runtime.worker(clock=clock).drain()
    finally:
        await close(runtime)
    clock.advance(dt.timedelta(days=12).total_seconds())  # Wednesday 25 February
    async with create_sessionmaker(engine)() as session:
        view = await chain_view(
            session, filing.dossier_code, runtime.definitions, runtime.calendar, now=clock.now
        )
    residence = view.steps[1]
    assert residence.state == "verification"
    assert residence.due_at == _close_of(2, 3)
    assert view.due_at == _close_of(2, 3)
    assert view.working_days_used == 2  # Tuesday 24 and Wednesday 25
    assert residence.working_days_used == 2
