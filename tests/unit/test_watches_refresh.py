"""The refresh job on fake connectors: changes, idempotence, outages, resume, rate budget."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.watches.changes import changes_since, count_changes
from store.watches.types import ChangeType, Watch, WatchKind
from store.watches.watch_list import put_watch
from tests.support.records import FakePopulation, FakeRegistry, sqlite_sessions
from watches.rate_budget import RateBudget, TokenBucket
from watches.refresh import RefreshSettings, WatchRefresher, WatchRefreshService

T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
TAX_CODES = [f"01001091{index:02d}" for index in range(12)]


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with sqlite_sessions(tmp_path) as made:
        yield made


def _business(status: str = "active", **extra: object) -> dict[str, object]:
    return {"name": "Công ty", "status": status, "representatives": [], **extra}


async def _watch_all(
    sessions: async_sessionmaker[AsyncSession], kind: WatchKind, ids: list[str], purpose: str = ""
) -> None:
    async with sessions.begin() as session:
        for record_id in ids:
            await put_watch(session, Watch(kind, record_id, "province-app", purpose), now=T0)


def _refresher(
    sessions: async_sessionmaker[AsyncSession],
    population: FakePopulation,
    registry: FakeRegistry,
    **settings: object,
) -> WatchRefresher:
    return WatchRefresher(
        sessions,
        population=population,
        registry=registry,
        settings=RefreshSettings(**{"batch_size": 5, "concurrency": 3, **settings}),  # type: ignore[arg-type]
    )


async def test_a_dissolved_business_appears_once_with_its_diff(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Baseline, dissolve, refresh twice: one ``status_changed`` event carrying the diff."""
    registry = FakeRegistry({code: _business() for code in TAX_CODES})
    await _watch_all(sessions, WatchKind.BUSINESS, TAX_CODES)
    refresher = _refresher(sessions, FakePopulation(), registry)
    baseline = await refresher.run_once()
    assert (baseline.checked, baseline.changes, baseline.finished) == (12, 0, True)
    registry.records[TAX_CODES[3]] = _business("dissolved")
    first = await refresher.run_once()
    second = await refresher.run_once()
    assert (first.changes, second.changes) == (1, 0)
    async with sessions() as session:
        events = await changes_since(session, after=0, client="ministry")
    assert [(e.record_id, e.change_type) for e in events] == [
        (TAX_CODES[3], ChangeType.STATUS_CHANGED)
    ]
    assert events[0].diff[0]["new"] == "dissolved"


async def test_unchanged_records_produce_no_event(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Refreshing records that did not change nationally records nothing."""
    population = FakePopulation({"001085000001": {"full_name": "A", "permanent_address": "X"}})
    await _watch_all(sessions, WatchKind.CITIZEN, ["001085000001"], "P")
    refresher = _refresher(sessions, population, FakeRegistry())
    for _ in range(3):
        report = await refresher.run_once()
        assert report.changes == 0
    assert population.calls == ["001085000001"] * 3
    async with sessions() as session:
        assert await count_changes(session) == 0


async def test_a_national_not_found_is_a_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A citizen the population database stops knowing produces a ``not_found`` event."""
    population = FakePopulation({"001085000001": {"full_name": "A"}})
    await _watch_all(sessions, WatchKind.CITIZEN, ["001085000001"], "P")
    refresher = _refresher(sessions, population, FakeRegistry())
    await refresher.run_once()
    del population.records["001085000001"]
    report = await refresher.run_once()
    assert report.changes == 1
    async with sessions() as session:
        events = await changes_since(session, after=0, client="province-app")
    assert [e.change_type for e in events] == [ChangeType.NOT_FOUND]


async def test_lookups_carry_the_watchs_client_and_purpose(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A citizen is re-read for the watching client, with its purpose as the X-Road issue."""
    population = FakePopulation({"001085000001": {"full_name": "A"}})
    await _watch_all(sessions, WatchKind.CITIZEN, ["001085000001"], "000.00.04.H04-261126-0001")
    await _refresher(sessions, population, FakeRegistry(), user_id="VN001085000009").run_once()
    ctx = population.contexts[0]
    assert (ctx.client, ctx.issue, ctx.user_id) == (
        "province-app",
        "000.00.04.H04-261126-0001",
        "VN001085000009",
    )


async def test_an_outage_interrupts_and_the_next_run_resumes_without_duplicates(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Mid-pass outage: the pass stops, resumes from where it stopped, each change once."""
    registry = FakeRegistry({code: _business() for code in TAX_CODES})
    await _watch_all(sessions, WatchKind.BUSINESS, TAX_CODES)
    refresher = _refresher(sessions, FakePopulation(), registry)
    await refresher.run_once()
    for code in TAX_CODES:
        registry.records[code] = _business("suspended")
    registry.calls.clear()
    registry.fail_after = 7  # the registry goes down in the middle of the second batch
    interrupted = await refresher.run_once()
    assert interrupted.interrupted
    assert not interrupted.finished
    assert 5 <= interrupted.changes <= 7
    registry.fail_after = None
    resumed = await refresher.run_once()
    assert resumed.resumed
    assert resumed.finished
    assert interrupted.changes + resumed.changes == len(TAX_CODES)
    # the records before the outage were not read again
    assert TAX_CODES[0] not in registry.calls[7:]
    async with sessions() as session:
        events = await changes_since(session, after=0, client="c", limit=100)
    assert sorted(e.record_id for e in events) == TAX_CODES
    assert (await _refresher(sessions, FakePopulation(), registry).run_once()).changes == 0


async def test_an_outage_of_one_upstream_does_not_stop_the_other(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """While the registry is down, citizens are still refreshed; businesses resume later."""
    population = FakePopulation({"001085000001": {"full_name": "A"}})
    registry = FakeRegistry({TAX_CODES[0]: _business()})
    await _watch_all(sessions, WatchKind.CITIZEN, ["001085000001"], "P")
    await _watch_all(sessions, WatchKind.BUSINESS, [TAX_CODES[0]])
    registry.fail_after = 0
    report = await _refresher(sessions, population, registry).run_once()
    assert report.kinds[WatchKind.CITIZEN].done
    assert report.kinds[WatchKind.BUSINESS].interrupted
    assert report.kinds[WatchKind.BUSINESS].upstream_error == "UpstreamUnavailable"
    registry.fail_after = None
    population.calls.clear()
    resumed = await _refresher(sessions, population, registry).run_once()
    assert resumed.finished
    assert population.calls == []  # citizens were done in this pass already
    assert registry.calls == [TAX_CODES[0]]


async def test_a_second_refresher_stays_out_while_the_first_holds_the_pass(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Two refreshers at once: one works, the other reports ``busy`` and reads nothing."""
    gate = asyncio.Event()
    registry = FakeRegistry({TAX_CODES[0]: _business()})
    original = registry.get_business

    async def slow(tax_code: str, ctx: object) -> object:
        await gate.wait()
        return await original(tax_code, ctx)  # type: ignore[arg-type]

    registry.get_business = slow  # type: ignore[method-assign]
    await _watch_all(sessions, WatchKind.BUSINESS, [TAX_CODES[0]])
    first = asyncio.create_task(_refresher(sessions, FakePopulation(), registry).run_once())
    await asyncio.sleep(0.05)
    other = await _refresher(sessions, FakePopulation(), registry).run_once()
    gate.set()
    done = await first
    assert other.busy
    assert done.finished
    assert registry.calls == [TAX_CODES[0]]


def test_token_bucket_lets_a_burst_through_then_spaces_calls() -> None:
    """After ``burst`` free tokens, each reservation waits one more ``1/rate``."""
    now = [0.0]
    bucket = TokenBucket(10.0, burst=2, clock=lambda: now[0])
    waits = [bucket.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 0.1, 0.2])
    now[0] = 10.0
    assert bucket.reserve() == 0.0


async def test_rate_budget_waits_per_upstream() -> None:
    """The budget sleeps for a limited upstream and never for an unlimited one."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    budget = RateBudget({"registry": 5.0}, clock=lambda: 0.0, sleep=sleep)
    for _ in range(3):
        await budget.acquire("registry")
        await budget.acquire("population")
    assert slept == pytest.approx([0.2, 0.4])
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


async def test_a_citizen_is_read_under_the_watch_that_names_a_dossier(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Of several watches, the lookup uses one whose purpose is a dossier code, and its official."""
    population = FakePopulation({"001085000001": {"full_name": "A"}})
    async with sessions.begin() as session:
        await put_watch(
            session,
            Watch(WatchKind.CITIZEN, "001085000001", "limited", "bhxh", "VN001080000001"),
            now=T0,
        )
        await put_watch(
            session,
            Watch(
                WatchKind.CITIZEN,
                "001085000001",
                "province-app",
                "000.00.04.H04-261126-0001",
                "VN001080000002",
            ),
            now=T0,
        )
    await _refresher(sessions, population, FakeRegistry(), user_id="VN001085000009").run_once()
    ctx = population.contexts[0]
    assert (ctx.client, ctx.issue, ctx.user_id) == (
        "province-app",
        "000.00.04.H04-261126-0001",
        "VN001080000002",
    )


async def test_the_scheduled_service_runs_passes_and_stops(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Started, the service runs a pass (after its initial delay); stopped, it runs no more."""
    registry = FakeRegistry({TAX_CODES[0]: _business()})
    await _watch_all(sessions, WatchKind.BUSINESS, [TAX_CODES[0]])
    service = WatchRefreshService(
        _refresher(sessions, FakePopulation(), registry), interval=3600, initial_delay=0.01
    )
    await service.start()
    for _ in range(200):
        if registry.calls:
            break
        await asyncio.sleep(0.01)
    await service.stop()
    await service.stop()  # stopping twice is harmless
    assert registry.calls == [TAX_CODES[0]]
