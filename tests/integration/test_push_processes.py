"""`lienthong notify run` as a real process, killed with SIGKILL mid-delivery.

The worker subprocess delivers to a receiver served by the test; the test records dossier changes
into the same SQLite store before and while the worker is dead. After a second worker finishes,
every change must have reached the subscriber, in per-dossier order, with a signature the
independent ``http-message-signatures`` library accepts; the ones in flight at the kill arrive
again under the same delivery id (at least once), which is what the id is for.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from push.webhooks.outbox import SqlWebhookOutbox
from push.webhooks.subscriptions import SqlSubscriptions
from store.db import create_engine, normalize_url, upgrade
from tests.support.push import (
    changes_by_dossier,
    expected_changes,
    record_lifecycles,
    verify_independently,
)
from tests.support.servers import serve_app
from tests.support.webhook_receiver import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[tuple[str, WebhookReceiver]]:
    """A slow receiver (20 ms an answer), so a kill lands mid-batch."""
    state = WebhookReceiver(delay=0.02)
    with serve_app(state.app()) as url:
        yield url, state


class _Worker:
    def __init__(self, data: Path, keys: Path, mock_url: str, log: Path) -> None:
        self.log = log
        self._file = log.open("w")
        env = {**os.environ, "LIENTHONG_PUSH_WEBHOOK_LEASE_SECONDS": "2"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lienthong.cli",
                "notify",
                "run",
                "--data",
                str(data),
                "--keys",
                str(keys),
                "--mock-url",
                mock_url,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._file,
        )

    def wait_running(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while "push workers running" not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._file.close()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            self._file.close()


def _wait(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_sigkilled_worker_loses_nothing_and_keeps_the_order(
    tmp_path: Path, dev_keys: Path, receiver: tuple[str, WebhookReceiver]
) -> None:
    """Kill -9 mid-delivery, changes recorded meanwhile, a new worker: every change arrives,
    in order per dossier, each signature verified independently."""
    base_url, state = receiver
    data = tmp_path / "data"
    url = normalize_url(data)
    upgrade(url)

    async def setup() -> None:
        engine = create_engine(url)
        try:
            hook = f"{base_url}/ministry/webhooks"
            await SqlSubscriptions(engine).create(
                "ministry", hook, allowed_urls={hook}, visible_sectors={"TP.HT"}
            )
            await record_lifecycles(engine, range(1, 31), sector="TP.HT")
        finally:
            await engine.dispose()

    asyncio.run(setup())
    first = _Worker(data, dev_keys, base_url, tmp_path / "first.log")
    first.wait_running()
    _wait(lambda: len(state.snapshot()) >= 40, 60)
    first.kill()
    killed_at = len(state.snapshot())

    async def more() -> None:
        engine = create_engine(url)
        try:
            await record_lifecycles(engine, range(31, 41), sector="TP.HT")
        finally:
            await engine.dispose()

    asyncio.run(more())
    second = _Worker(data, dev_keys, base_url, tmp_path / "second.log")
    second.wait_running()
    expected = expected_changes(range(1, 41))
    total = sum(len(changes) for changes in expected.values())
    _wait(lambda: len({r.delivery["delivery_id"] for r in state.snapshot()}) >= total, 120)
    assert second.stop() == 0

    received = state.snapshot()
    got, duplicates = changes_by_dossier(received)
    assert got == expected
    assert killed_at < total
    assert duplicates == len(received) - total  # redeliveries carry an id already received
    for item in received:
        verify_independently(dev_keys, item)

    async def stats() -> tuple[int, int, int]:
        engine = create_engine(url)
        try:
            s = await SqlWebhookOutbox(engine).stats()
            return s.pending, s.dead, s.delivered
        finally:
            await engine.dispose()

    assert asyncio.run(stats()) == (0, 0, total)
