"""The memory replay cache against its check as first written: the same answers, the same state.

``MemoryReplayCache.seen`` purges expired nonces only when the soonest to expire has expired
(the purge's own first test, made before calling it); ``_PlainCache`` is the cache as it was,
purging on every call. Random runs (repeated nonces, expiries in the past, a full cache, a
clock that stands still or jumps) must give the same answers and leave the same entries.
"""

from __future__ import annotations

import heapq
import random

import pytest

from security.replay import MemoryReplayCache


class _PlainCache(MemoryReplayCache):
    """``seen`` as it was first written."""

    def seen(self, keyid: str, nonce: str, expires_at: float) -> bool:
        key = (keyid, nonce)
        now = self._clock()
        with self._lock:
            known = self._expiry.get(key)
            if known is not None and known >= now:
                return True
            heap = self._heap
            while heap and heap[0][0] < now:
                expires, old = heapq.heappop(heap)
                if self._expiry.get(old) == expires:
                    del self._expiry[old]
            while len(self._expiry) >= self._max:
                self._drop_soonest()
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return False


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("max_entries", [1, 3, 50])
def test_the_cache_answers_and_keeps_as_the_plain_one(seed: int, max_entries: int) -> None:
    rng = random.Random(seed)
    clocks = _Clock(), _Clock()
    fast = MemoryReplayCache(max_entries, clock=clocks[0])
    plain = _PlainCache(max_entries, clock=clocks[1])
    for _ in range(400):
        step = rng.choice([0.0, 0.0, 0.5, 1.0, 7.0, 60.0])
        for clock in clocks:
            clock.now += step
        keyid = rng.choice(["a", "b", ""])
        nonce = str(rng.randrange(12))
        expires_at = clocks[0].now + rng.choice([-5.0, 0.0, 0.0, 1.0, 3.0, 30.0, 300.0])
        assert fast.seen(keyid, nonce, expires_at) == plain.seen(keyid, nonce, expires_at)
        assert fast._expiry == plain._expiry
        assert fast._heap == plain._heap
        assert len(fast) <= max_entries
