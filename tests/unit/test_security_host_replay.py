"""The replay cache the workers of one host share: a table in a shared-memory file."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from security.errors import ReplayCacheUnavailable
from security.host_replay import WINDOW, HostReplayCache, HostReplayTable

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table(tmp_path: Path) -> Iterator[HostReplayTable]:
    made = HostReplayTable.create(4096, folder=tmp_path)
    yield made
    made.remove()


def test_a_nonce_is_seen_the_second_time_only(table: HostReplayTable) -> None:
    """The first check remembers (keyid, nonce); the second finds it; another signer's is new."""
    cache = HostReplayCache(table, clock=Clock())
    assert cache.seen("province-app", "n-1", NOW + 60) is False
    assert cache.seen("province-app", "n-1", NOW + 60) is True
    assert cache.seen("ministry", "n-1", NOW + 60) is False
    assert cache.seen("province-app", "n-2", NOW + 60) is False
    cache.close()


def test_an_expired_nonce_is_forgotten_and_its_slot_reused(tmp_path: Path) -> None:
    """After its expiry a nonce is accepted again, and expired entries make room for new ones."""
    table = HostReplayTable.create(WINDOW, folder=tmp_path)  # exactly one window
    clock = Clock()
    cache = HostReplayCache(table, clock=clock)
    for index in range(WINDOW):
        assert cache.seen("a", f"n-{index}", NOW + 10) is False
    clock.now = NOW + 11
    assert cache.seen("a", "n-0", NOW + 30) is False  # expired: accepted, slot reused
    for index in range(1, WINDOW):
        assert cache.seen("b", f"n-{index}", NOW + 30) is False
    assert cache.seen("a", "n-0", NOW + 30) is True
    cache.close()
    table.remove()


def test_a_full_table_refuses_instead_of_forgetting(tmp_path: Path) -> None:
    """When no slot of a nonce's window has expired the check fails closed; nothing is evicted."""
    table = HostReplayTable.create(WINDOW, folder=tmp_path)
    clock = Clock()
    cache = HostReplayCache(table, clock=clock)
    for index in range(WINDOW):
        assert cache.seen("a", f"n-{index}", NOW + 10) is False
    with pytest.raises(ReplayCacheUnavailable, match="full"):
        cache.seen("a", "one-too-many", NOW + 10)
    for index in range(WINDOW):  # every remembered nonce is still refused
        assert cache.seen("a", f"n-{index}", NOW + 10) is True
    clock.now = NOW + 10.5
    assert cache.seen("a", "one-too-many", NOW + 20) is False
    cache.close()
    table.remove()


def test_the_table_file_is_private_and_checked(table: HostReplayTable, tmp_path: Path) -> None:
    """The file is the owner's only, and a file of another size is refused rather than mapped."""
    assert stat.S_IMODE(table.path.stat().st_mode) == 0o600
    wrong = HostReplayTable(table.path, table.slots * 2, table.key)
    with pytest.raises(ValueError, match="does not hold"):
        HostReplayCache(wrong)
    with pytest.raises(ValueError, match="at least"):
        HostReplayTable.create(WINDOW - 1, folder=tmp_path)


def _claim(
    table: HostReplayTable,
    nonces: int,
    start: multiprocessing.synchronize.Barrier,
    results: multiprocessing.Queue[int],
) -> None:
    """Child process: check the same nonces as the others; report how many were new to it."""
    cache = HostReplayCache(table)
    start.wait(60)  # all four begin together
    fresh = sum(not cache.seen("province-app", f"race-{i}", 4_000_000_000.0) for i in range(nonces))
    cache.close()
    results.put(fresh)


def test_processes_racing_on_the_same_nonces_accept_each_once(tmp_path: Path) -> None:
    """Four processes check the same 3,000 nonces at once: each nonce is new to exactly one of
    them, and a nonce another process remembered is seen here."""
    table = HostReplayTable.create(1 << 14, folder=tmp_path)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(4), context.Queue()
    processes = [
        context.Process(target=_claim, args=(table, 3000, start, results)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    fresh = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(30)
    assert sum(fresh) == 3000
    here = HostReplayCache(table)
    assert here.seen("province-app", "race-7", 4_000_000_000.0) is True
    here.close()
    table.remove()
