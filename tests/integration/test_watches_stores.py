"""The watched-records store and refresh on both stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import store.tables  # noqa: F401 - registers every table
from store.db import create_engine, create_sessionmaker
from store.metadata import metadata
from store.tables.watches import (
    record_changes,
    record_refresh_runs,
    record_snapshots,
    record_watches,
)
from store.watches.changes import changes_since, count_changes
from store.watches.types import ChangeType, Watch, WatchKind
from store.watches.watch_list import put_watch
from tests.support.records import FakePopulation, FakeRegistry
from watches.observations import Observation, apply_observation
from watches.refresh import RefreshSettings, WatchRefresher

T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
TABLES = [record_changes, record_refresh_runs, record_snapshots, record_watches]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sessions(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = str(tmp_path) if request.param == "sqlite" else request.getfixturevalue("postgres_dsn")
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all, tables=TABLES, checkfirst=True)
        for table in TABLES:
            await connection.execute(delete(table))
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def test_racing_observers_record_one_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Many concurrent applications of the same change record exactly one event."""
    async with sessions.begin() as session:
        await apply_observation(
            session, WatchKind.BUSINESS, "B1", Observation({"status": "active"}), observed_at=T0
        )

    async def observe() -> object:
        async with sessions.begin() as session:
            return await apply_observation(
                session,
                WatchKind.BUSINESS,
                "B1",
                Observation({"status": "dissolved"}),
                observed_at=T0,
            )

    results = await asyncio.gather(*(observe() for _ in range(6)), return_exceptions=True)
    recorded = [r for r in results if r is not None and not isinstance(r, BaseException)]
    assert len(recorded) == 1
    async with sessions() as session:
        events = await changes_since(session, after=0, client="c")
    assert [(e.record_id, e.change_type) for e in events] == [("B1", ChangeType.STATUS_CHANGED)]


async def test_refresh_with_an_outage_resumes_without_duplicates(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The outage-and-resume scenario holds on this store: every change once, in order."""
    codes = [f"010010{index:04d}" for index in range(30)]
    registry = FakeRegistry({code: {"status": "active"} for code in codes})
    population = FakePopulation({"001085000001": {"permanent_address": "X"}})
    async with sessions.begin() as session:
        for code in codes:
            await put_watch(session, Watch(WatchKind.BUSINESS, code, "app", ""), now=T0)
        await put_watch(session, Watch(WatchKind.CITIZEN, "001085000001", "app", "P"), now=T0)
    settings = RefreshSettings(batch_size=7, concurrency=4)
    refresher = WatchRefresher(
        sessions, population=population, registry=registry, settings=settings
    )
    assert (await refresher.run_once()).finished
    for code in codes:
        registry.records[code] = {"status": "suspended"}
    population.records["001085000001"] = {"permanent_address": "Y"}
    registry.fail_after = len(registry.calls) + 12
    first = await refresher.run_once()
    assert first.interrupted
    registry.fail_after = None
    second = await refresher.run_once()
    assert second.finished
    assert first.changes + second.changes == 31
    async with sessions() as session:
        events = await changes_since(session, after=0, client="app", limit=100)
        assert await count_changes(session) == 31
    assert sorted(e.record_id for e in events if e.kind is WatchKind.BUSINESS) == codes
    positions = [e.position for e in events]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
