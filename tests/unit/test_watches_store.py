"""The watched-records store: watches, snapshots, change events, the feed query, refresh runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.watches.changes import changes_since, count_changes
from store.watches.refresh_runs import close_refresh_run, open_refresh_run, save_refresh_progress
from store.watches.snapshots import get_snapshot
from store.watches.types import ChangeType, Watch, WatchKind
from store.watches.watch_list import (
    count_watched_records,
    delete_watch,
    get_watch,
    list_watches,
    put_watch,
    refresh_targets,
)
from tests.support.records import sqlite_sessions
from watches.observations import Observation, apply_observation, classify_change

T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
CITIZEN = WatchKind.CITIZEN
BUSINESS = WatchKind.BUSINESS


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with sqlite_sessions(tmp_path) as made:
        yield made


async def _observe(
    sessions: async_sessionmaker[AsyncSession],
    kind: WatchKind,
    record_id: str,
    record: dict[str, object] | None,
    minutes: int = 0,
) -> object:
    async with sessions.begin() as session:
        return await apply_observation(
            session,
            kind,
            record_id,
            Observation(record),
            observed_at=T0 + dt.timedelta(minutes=minutes),
        )


async def test_put_watch_is_idempotent_and_updates_the_purpose(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Watching twice keeps one watch per client and record, with the latest purpose."""
    async with sessions.begin() as session:
        assert await put_watch(session, Watch(CITIZEN, "001", "app", "P1"), now=T0)
        assert not await put_watch(session, Watch(CITIZEN, "001", "app", "P2"), now=T0)
        assert await put_watch(session, Watch(CITIZEN, "001", "other", "P3"), now=T0)
    async with sessions() as session:
        watch = await get_watch(session, CITIZEN, "001", "app")
        assert watch is not None
        assert watch.purpose == "P2"
        assert watch.created_at == T0
        assert len(await list_watches(session, client="app")) == 1
        assert await count_watched_records(session) == 1


async def test_delete_watch_removes_only_that_clients_watch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Deleting a watch says whether there was one, and leaves other clients' watches."""
    async with sessions.begin() as session:
        await put_watch(session, Watch(BUSINESS, "0100109106", "a", ""), now=T0)
        await put_watch(session, Watch(BUSINESS, "0100109106", "b", ""), now=T0)
    async with sessions.begin() as session:
        assert await delete_watch(session, BUSINESS, "0100109106", "a")
        assert not await delete_watch(session, BUSINESS, "0100109106", "a")
    async with sessions() as session:
        assert [w.client for w in await list_watches(session)] == ["b"]


async def test_refresh_targets_walk_distinct_records_with_the_earliest_watch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Targets are distinct records in id order, each with its first watch's client and purpose."""
    async with sessions.begin() as session:
        for record_id, client in [("003", "x"), ("001", "y"), ("002", "z"), ("001", "x")]:
            await put_watch(session, Watch(CITIZEN, record_id, client, f"P-{client}"), now=T0)
        await put_watch(session, Watch(BUSINESS, "999", "x", ""), now=T0)
    async with sessions() as session:
        first = await refresh_targets(session, CITIZEN, after=None, limit=2)
        rest = await refresh_targets(session, CITIZEN, after=first[-1].record_id, limit=2)
    assert [(t.record_id, t.client, t.purpose) for t in first] == [
        ("001", "y", "P-y"),
        ("002", "z", "P-z"),
    ]
    assert [t.record_id for t in rest] == ["003"]


async def test_first_sight_is_not_a_change(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The first observation stores a baseline (version 1) and records no event."""
    assert await _observe(sessions, BUSINESS, "B1", {"status": "active"}) is None
    async with sessions() as session:
        snapshot = await get_snapshot(session, BUSINESS, "B1")
        assert snapshot is not None
        assert (snapshot.version, snapshot.found) == (1, True)
        assert await count_changes(session) == 0


async def test_an_unchanged_record_records_no_event_but_updates_fetched_at(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Seeing the same version again records nothing but notes when it was last read."""
    await _observe(sessions, BUSINESS, "B1", {"status": "active", "name": "A"})
    assert await _observe(sessions, BUSINESS, "B1", {"name": "A", "status": "active"}, 5) is None
    async with sessions() as session:
        snapshot = await get_snapshot(session, BUSINESS, "B1")
        assert snapshot is not None
        assert snapshot.fetched_at == T0 + dt.timedelta(minutes=5)
        assert snapshot.version == 1
        assert await count_changes(session) == 0


async def test_a_status_change_of_a_business_is_one_status_changed_event(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A dissolved business produces one ``status_changed`` event with its diff, once."""
    await _observe(sessions, BUSINESS, "B1", {"status": "active"})
    event = await _observe(sessions, BUSINESS, "B1", {"status": "dissolved"}, 1)
    again = await _observe(sessions, BUSINESS, "B1", {"status": "dissolved"}, 2)
    assert event is not None
    assert again is None
    async with sessions() as session:
        events = await changes_since(session, after=0, client="anyone")
    assert len(events) == 1
    assert events[0].change_type is ChangeType.STATUS_CHANGED
    assert events[0].version == 2
    assert events[0].diff == [
        {"field": "status", "path": "status", "op": "changed", "old": "active", "new": "dissolved"}
    ]


async def test_not_found_and_reappeared_are_events(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A record that vanishes is ``not_found``; when it comes back it is ``reappeared``."""
    await _observe(sessions, CITIZEN, "C1", {"full_name": "A", "permanent_address": "X"})
    gone = await _observe(sessions, CITIZEN, "C1", None, 1)
    still_gone = await _observe(sessions, CITIZEN, "C1", None, 2)
    back = await _observe(sessions, CITIZEN, "C1", {"full_name": "A", "permanent_address": "Y"}, 3)
    assert getattr(gone, "change_type", None) is ChangeType.NOT_FOUND
    assert still_gone is None
    assert getattr(back, "change_type", None) is ChangeType.REAPPEARED
    assert [e["path"] for e in getattr(back, "diff", [])] == ["permanent_address"]


def test_first_sight_of_a_missing_record_is_not_a_change() -> None:
    """A record never found is not a change; a citizen's changed field is plain ``changed``."""
    assert classify_change(CITIZEN, None, Observation(None)) == (None, [])


async def test_citizen_changes_are_seen_only_by_watchers_since_their_watch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A citizen's event reaches only clients watching them since before it, with the purpose."""
    async with sessions.begin() as session:
        await put_watch(session, Watch(CITIZEN, "C1", "app", "000.00.04.H04-261126-0001"), now=T0)
    await _observe(sessions, CITIZEN, "C1", {"permanent_address": "X"}, 1)
    await _observe(sessions, CITIZEN, "C1", {"permanent_address": "Y"}, 2)
    async with sessions.begin() as session:
        await put_watch(session, Watch(CITIZEN, "C1", "late", "P"), now=T0 + dt.timedelta(hours=1))
    async with sessions() as session:
        mine = await changes_since(session, after=0, client="app")
        others = await changes_since(session, after=0, client="stranger")
        late = await changes_since(session, after=0, client="late")
    assert [(e.change_type, e.purpose) for e in mine] == [
        (ChangeType.CHANGED, "000.00.04.H04-261126-0001")
    ]
    assert others == []
    assert late == []


async def test_changes_since_filters_and_pages_by_position(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The feed pages by position and filters by kind and record id."""
    for index in range(3):
        await _observe(sessions, BUSINESS, f"B{index}", {"status": "active"})
        await _observe(sessions, BUSINESS, f"B{index}", {"status": "suspended"}, 1)
    async with sessions() as session:
        first = await changes_since(session, after=0, client="c", limit=2)
        rest = await changes_since(session, after=first[-1].position, client="c", limit=2)
        only = await changes_since(session, after=0, client="c", record_id="B1")
        citizens = await changes_since(session, after=0, client="c", kinds=[CITIZEN])
    assert [e.record_id for e in first] == ["B0", "B1"]
    assert [e.record_id for e in rest] == ["B2"]
    assert first[0].position < first[1].position < rest[0].position
    assert [e.record_id for e in only] == ["B1"]
    assert citizens == []


async def test_refresh_runs_resume_and_lease(sessions: async_sessionmaker[AsyncSession]) -> None:
    """An unfinished pass is resumed with its progress; a live lease keeps others out."""
    lease = dt.timedelta(minutes=1)
    async with sessions.begin() as session:
        run = await open_refresh_run(session, owner="one", now=T0, lease=lease)
        assert run is not None
        await save_refresh_progress(
            session, run, CITIZEN, after="C5", done=False, lease_until=T0 + lease
        )
    async with sessions.begin() as session:
        assert await open_refresh_run(session, owner="two", now=T0, lease=lease) is None
    async with sessions.begin() as session:
        await close_refresh_run(session, run, now=T0, finished=False)
    async with sessions.begin() as session:
        resumed = await open_refresh_run(session, owner="two", now=T0, lease=lease)
    assert resumed is not None
    assert resumed.id == run.id
    assert resumed.after(CITIZEN) == "C5"
    assert not resumed.done(CITIZEN)
    async with sessions.begin() as session:
        await close_refresh_run(session, resumed, now=T0, finished=True)
    async with sessions.begin() as session:
        fresh = await open_refresh_run(session, owner="two", now=T0, lease=lease)
    assert fresh is not None
    assert fresh.id != run.id
    assert fresh.after(CITIZEN) is None
