"""The store on both databases for the dossier/outbox/sync tests, and dossiers to put in it.

``store_url`` is parametrised over SQLite (a fresh migrated file per test) and PostgreSQL (the
session's database from ``postgres_dsn``, migrated once, with the dossier and outbox tables
emptied before each test). Import the fixtures into a test module to use them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.times import VN_TZ
from store.db import create_engine, normalize_url, upgrade

_MIGRATED: set[str] = set()
#: locked in this order by the reset's TRUNCATE: dossiers first, as every writer that touches
#: several of these tables (dossier writes, the worker's settle, the apology drafts) locks it first
_MY_TABLES = (
    "dossiers",
    "dossier_events",
    "outbox_heads",
    "outbox",
    "apologies",
    "procedure_deadlines",
    "push_heads",
    "push_deliveries",
    "push_subscriptions",
    "push_notices",
    "push_contacts",
    "push_opt_outs",
)
RECEIVED = dt.datetime(2026, 11, 26, 8, 30, tzinfo=VN_TZ)


def reset_postgres(dsn: str) -> None:
    """Empty the dossier and outbox tables of a migrated PostgreSQL database."""
    import psycopg2

    connection = psycopg2.connect(dsn)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(_MY_TABLES)} RESTART IDENTITY CASCADE")
            cursor.execute("UPDATE counters SET value = 0")
    finally:
        connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty store: SQLite in ``tmp_path`` or the session's PostgreSQL database."""
    if request.param == "sqlite":
        url = normalize_url(tmp_path / "data")
        upgrade(url)
        return url
    dsn: str = request.getfixturevalue("postgres_dsn")
    if dsn not in _MIGRATED:
        upgrade(dsn)
        _MIGRATED.add(dsn)
    reset_postgres(dsn)
    return normalize_url(dsn)


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``store_url``, disposed after the test."""
    engine = create_engine(store_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def dossier_code(serial: int, *, agency: str = "000.00.04.H04", day: str = "261126") -> str:
    """A valid dossier code with the given daily serial (1–9999)."""
    return f"{agency}-{day}-{serial:04d}"


def make_dossier(
    serial: int = 1,
    *,
    status: DossierStatus = DossierStatus.SUBMITTED,
    sector: str = "TP",
    title: str = "Cấp phiếu lý lịch tư pháp",
    updated_at: dt.datetime | None = None,
) -> Dossier:
    """A valid dossier received on 2026-11-26 (synthetic applicant)."""
    return Dossier(
        code=dossier_code(serial),
        procedure_code="1.001234",
        agency_code="000.00.04.H04",
        sector_code=sector,
        applicant_name="Nguyễn Văn Thử",
        applicant_id="001099012345",
        status=status,
        received_at=RECEIVED,
        updated_at=updated_at or RECEIVED,
        title=title,
    )


def make_event(
    serial: int, sequence: int, status: DossierStatus, *, note: str | None = None
) -> DossierEvent:
    """An event of dossier ``serial`` with the given sequence and status."""
    return DossierEvent(
        dossier_code=dossier_code(serial),
        sequence=sequence,
        status=status,
        occurred_at=RECEIVED + dt.timedelta(hours=sequence),
        note=note,
    )


#: a legal path through the lifecycle, as (sequence, status) events after SUBMITTED
LIFECYCLE: tuple[DossierStatus, ...] = (
    DossierStatus.ACCEPTED,
    DossierStatus.PROCESSING,
    DossierStatus.PROCESSING,
    DossierStatus.FEES_DUE,
    DossierStatus.PROCESSING,
    DossierStatus.PROCESSED,
    DossierStatus.RESULT_DELIVERED,
)


class FakeClock:
    """A settable UTC clock for leases and backoff.

    It starts a minute ahead of the real time, so that items enqueued (at real time) during the
    test are already due.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += dt.timedelta(seconds=seconds)
