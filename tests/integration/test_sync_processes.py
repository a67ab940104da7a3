"""`lienthong sync run` as real processes: killed with SIGKILL mid-batch, and several at once.

The workers are subprocesses talking to the portal mock over HTTP; the test process records
dossiers into the same store. What the mock holds at the end must be every dossier and step,
applied once each and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import create_engine, normalize_url, upgrade
from store.outbox import SqlOutbox
from store.tables.outbox import outbox_heads
from tests.integration.sync_support import (
    PortalMock,
    assert_portal_has_exactly,
    record_dossiers,
    record_steps,
    running_portal_mock,
)
from tests.support.stores import reset_postgres

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def portal_mock(dev_keys: Path) -> Iterator[PortalMock]:
    """One mock for the module, emptied and fault-free before each test."""
    with running_portal_mock(dev_keys) as mock:
        yield mock


@pytest.fixture
def mock(portal_mock: PortalMock) -> PortalMock:
    """The mock, reset."""
    portal_mock.reset()
    return portal_mock


@pytest.fixture
def pg_url(postgres_dsn: str) -> str:
    """The session's PostgreSQL database, migrated and emptied."""
    upgrade(postgres_dsn)
    reset_postgres(postgres_dsn)
    return normalize_url(postgres_dsn)


class Worker:
    """A `lienthong sync run` subprocess whose log goes to a file (no pipe to fill up)."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.log = log
        self._file = log.open("w")
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self._file, text=True
        )

    def wait_running(self, seconds: float = 30) -> None:
        """Wait until the worker has its signal handlers in place and runs its lanes."""
        deadline = time.monotonic() + seconds
        while "running" not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._file.close()

    def stop(self) -> tuple[int, str]:
        """SIGTERM (SIGKILL if it will not go); its exit code and what it logged."""
        try:
            if self.process.poll() is None:
                with contextlib.suppress(AssertionError):
                    self.wait_running()
                self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            self._file.close()
        return self.process.returncode, self.log.read_text()


def _clean_exit(stopped: tuple[int, str]) -> str:
    code, text = stopped
    assert code == 0, text[-3000:]
    return text


def _start_worker(url: str, mock: PortalMock, keys: Path, log: Path, *extra: str) -> Worker:
    command = [
        sys.executable,
        "-m",
        "lienthong.cli",
        "sync",
        "run",
        "--database-url",
        url,
        "--keys",
        str(keys),
        "--portal-url",
        mock.portal_url,
        "--no-message-log",
        "--lease",
        "3",
        *extra,
    ]
    return Worker(command, log)


async def _wait(condition: object, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _held_count(mock: PortalMock) -> int:
    listed = await asyncio.to_thread(mock.admin.get, "/_admin/portal/dossiers?limit=all")
    return len(listed.json()["dossiers"])


async def test_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    engine: AsyncEngine, store_url: str, mock: PortalMock, dev_keys: Path, tmp_path: Path
) -> None:
    """SIGKILL while a batch is out: after a restart every step is at the portal exactly once."""
    await record_dossiers(engine, range(1, 31), 4)
    mock.faults(latency_ms=40)
    first = _start_worker(
        store_url, mock, dev_keys, tmp_path / "first.log", "--batch", "4", "--concurrency", "1"
    )
    try:
        await _wait(lambda: _some_held(mock), seconds=60, what="the first deliveries")
        # the next batch stays out for seconds: the kill lands while its claim is held
        mock.faults(latency_ms=5000)
        await asyncio.sleep(0.5)  # the batch out before the change is answered meanwhile
        await _wait(lambda: _claim_held(engine), seconds=30, what="a batch out")
    finally:
        first.kill()
    assert first.process.returncode == -signal.SIGKILL
    stats = await SqlOutbox(engine).stats()
    assert stats.delivered > 0
    assert stats.pending > 0
    assert await _claims_held(engine) > 0  # abandoned by the killed worker

    mock.faults()
    second = _start_worker(store_url, mock, dev_keys, tmp_path / "second.log", "--batch", "4")
    try:
        await _wait(lambda: _drained(engine), seconds=90, what="the restarted worker")
    finally:
        stopped = second.stop()
    _clean_exit(stopped)
    assert_portal_has_exactly(mock, range(1, 31), 4)


async def _claims_held(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        held = await connection.scalar(
            select(func.count())
            .select_from(outbox_heads)
            .where(outbox_heads.c.claim_token.is_not(None))
        )
    return int(held or 0)


async def _claim_held(engine: AsyncEngine) -> bool:
    return await _claims_held(engine) > 0


async def _some_held(mock: PortalMock) -> bool:
    return await _held_count(mock) >= 5


async def _drained(engine: AsyncEngine) -> bool:
    stats = await SqlOutbox(engine).stats()
    assert stats.dead == 0
    return stats.pending == 0


async def test_several_workers_on_postgresql_deliver_once(
    pg_url: str, mock: PortalMock, dev_keys: Path, tmp_path: Path
) -> None:
    """Three worker processes on one PostgreSQL, writes arriving meanwhile: no double delivery."""
    engine = create_engine(pg_url)
    workers: list[Worker] = []
    try:
        await record_dossiers(engine, range(1, 41), 1)
        mock.faults(latency_ms=5)
        workers = [
            _start_worker(
                pg_url, mock, dev_keys, tmp_path / f"w{n}.log", "--batch", "5", "--concurrency", "2"
            )
            for n in range(3)
        ]
        for worker in workers:
            await asyncio.to_thread(worker.wait_running)
        await record_steps(engine, range(1, 41), 4, first=2)
        await _wait(lambda: _drained(engine), seconds=120, what="the workers")
    finally:
        stopped = [worker.stop() for worker in workers]
        await engine.dispose()
    logs = [_clean_exit(result) for result in stopped]
    seen = assert_portal_has_exactly(mock, range(1, 41), 4)
    assert set(seen) == {1}  # no step was even sent twice
    delivered = [
        sum(int(n) for n in re.findall(r"sync cycle: \d+ dossiers, (\d+) delivered", log))
        for log in logs
    ]
    assert sum(delivered) == 40 * 5  # each item settled as delivered by exactly one worker
    assert sum(1 for n in delivered if n > 0) >= 2  # the work really was shared
