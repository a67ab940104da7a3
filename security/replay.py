"""Replay caches: remember each (keyid, nonce) until its signature expires.

A signature carries a nonce and an expiry; while it is still valid, the same nonce from the same
signer must not be accepted twice. Once it has expired the signature itself is refused as stale,
so the cache may forget it. ``MemoryReplayCache`` is bounded: when full it first drops expired
entries, then the entries that expire soonest.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol


class ReplayCache(Protocol):
    """Where nonces are remembered (one process: memory; several: a shared store)."""

    def seen(self, keyid: str, nonce: str, expires_at: float) -> bool:
        """True when (keyid, nonce) was seen and has not expired; otherwise remember it."""
        ...


class MemoryReplayCache:
    """An in-process replay cache holding at most ``max_entries`` nonces."""

    def __init__(
        self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.time
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max = max_entries
        self._clock = clock
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def seen(self, keyid: str, nonce: str, expires_at: float) -> bool:
        """True when (keyid, nonce) is remembered and unexpired; otherwise remember it."""
        key = (keyid, nonce)
        now = self._clock()
        with self._lock:
            known = self._expiry.get(key)
            if known is not None and known >= now:
                return True
            self._purge(now)
            while len(self._expiry) >= self._max:
                self._drop_soonest()
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return False

    def _purge(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] < now:
            expires_at, key = heapq.heappop(heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]

    def _drop_soonest(self) -> None:
        expires_at, key = heapq.heappop(self._heap)
        if self._expiry.get(key) == expires_at:
            del self._expiry[key]


__all__ = ["MemoryReplayCache", "ReplayCache"]
