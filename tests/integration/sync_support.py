"""The portal mock on real HTTP for the sync tests: serve it, set its faults, read what it holds."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import BreakerSettings, RetrySettings, Timeouts
from lienthong.connect import PortalOptions, build_portal
from mock_endpoints.app import create_mock_app
from mock_endpoints.settings import MockSettings
from store.db import create_sessionmaker
from store.dossiers import record_dossier, record_event
from store.outbox import SqlOutbox
from sync.backoff import RetryPolicy
from sync.worker import SyncWorker, WorkerSettings
from tests.support.servers import serve_app
from tests.support.stores import LIFECYCLE, FakeClock, make_dossier, make_event


class PortalMock:
    """A running mock: its portal URL and its admin routes."""

    def __init__(self, base_url: str, admin: httpx.Client) -> None:
        self.base_url = base_url
        self.portal_url = f"{base_url}/portal"
        self.admin = admin

    def reset(self) -> None:
        """No faults, no dossiers."""
        self.admin.delete("/_admin/faults").raise_for_status()
        self.admin.delete("/_admin/portal/dossiers").raise_for_status()

    def faults(self, **portal: Any) -> None:
        """Replace the portal's faults (``outage``, ``error_rate``, ``drop_after_commit`` …)."""
        self.admin.put("/_admin/faults/portal", json=portal).raise_for_status()

    def held(self, code: str) -> dict[str, Any] | None:
        """What the portal holds for ``code`` (None when nothing)."""
        response = self.admin.get(f"/_admin/portal/dossiers/{code}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@contextmanager
def running_portal_mock(keys: Path) -> Iterator[PortalMock]:
    """The mock national endpoints on 127.0.0.1 for the duration."""
    app = create_mock_app(MockSettings(keys_dir=keys, citizens=5, businesses=2))
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as admin:
        yield PortalMock(url, admin)


def portal_options(mock: PortalMock, keys: Path, *, attempt: float = 2.0) -> PortalOptions:
    """Connector options with short timeouts and a breaker that recovers fast (tests)."""
    return PortalOptions(
        url=mock.portal_url,
        keys_dir=keys,
        timeouts=Timeouts(connect=1.0, attempt=attempt),
        retry=RetrySettings(
            attempts=2, initial_backoff=0.01, max_backoff=0.05, deadline=attempt * 3
        ),
        breaker=BreakerSettings(failure_threshold=5, reset_timeout=0.2),
    )


def worker_for(
    engine: AsyncEngine, mock: PortalMock, keys: Path, clock: FakeClock, *, attempt: float = 2.0
) -> tuple[SyncWorker, Any]:
    """A worker on ``engine`` delivering to the mock, and its connector (close it after)."""
    options = portal_options(mock, keys, attempt=attempt)
    connector = build_portal(options)
    settings = WorkerSettings(
        dossiers_per_claim=10, retry=RetryPolicy(base=1, cap=10, max_attempts=10_000)
    )
    worker = SyncWorker(
        SqlOutbox(engine, clock=clock),
        connector,
        settings=settings,
        clock=clock,
        rng=random.Random(9),
    )
    return worker, connector


async def record_dossiers(engine: AsyncEngine, serials: range, events: int) -> None:
    """Register the dossiers, then their first ``events`` lifecycle steps, one commit each."""
    sessions = create_sessionmaker(engine)
    for serial in serials:
        async with sessions() as session, session.begin():
            await record_dossier(session, make_dossier(serial))
    await record_steps(engine, serials, events)


async def record_steps(engine: AsyncEngine, serials: range, events: int, *, first: int = 1) -> None:
    """Record lifecycle steps ``first``..``events`` of dossiers already registered."""
    sessions = create_sessionmaker(engine)
    for sequence in range(first, events + 1):
        status = LIFECYCLE[sequence - 1]
        for serial in serials:
            async with sessions() as session, session.begin():
                await record_event(session, make_event(serial, sequence, status))


def assert_portal_has_exactly(mock: PortalMock, serials: range, events: int) -> list[int]:
    """Each dossier held once, its steps 1..events applied once each, in order; the status
    is the last step's. Returns how many times each applied key was received."""
    seen: list[int] = []
    for serial in serials:
        held = mock.held(make_dossier(serial).code)
        assert held is not None, f"dossier {serial} missing at the portal"
        progress = held["progress"]
        assert [step["ThuTu"] for step in progress] == list(range(1, events + 1))
        keys = [step["IdempotencyKey"] for step in progress]
        assert len(keys) == len(set(keys))
        assert held["status"] == int(LIFECYCLE[events - 1] if events else 1)
        seen += [int(step["seen"]) for step in progress]
    return seen


def clock_now() -> FakeClock:
    """A fake clock for backoff (real HTTP timeouts still use real time)."""
    return FakeClock(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60))
