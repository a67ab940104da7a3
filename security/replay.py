"""Replay caches: remember each (keyid, nonce) until its signature expires.

A signature carries a nonce and an expiry; while it is still valid, the same nonce from the same
signer must not be accepted twice. Once it has expired the signature itself is refused as stale,
so the cache may forget it. ``MemoryReplayCache`` is bounded: when full it first drops expired
entries, then the entries that expire soonest. ``RedisReplayCache`` is shared by every process
that points at the same Redis (several adapters behind a load balancer): a request replayed to
another process is refused too. It fails closed: when Redis cannot be asked, the request is
refused (``ReplayCacheUnavailable``), never waved through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Protocol

from security.errors import ReplayCacheUnavailable

if TYPE_CHECKING:
    import redis


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
            expiry = self._expiry
            known = expiry.get(key)
            if known is not None and known >= now:
                return True
            heap = self._heap
            if heap and heap[0][0] < now:  # the soonest has expired: forget what has
                self._purge(heap, now)
            while len(expiry) >= self._max:
                self._drop_soonest()
            expiry[key] = expires_at
            heappush(heap, (expires_at, key))
            return False

    def _purge(self, heap: list[tuple[float, tuple[str, str]]], now: float) -> None:
        while heap and heap[0][0] < now:
            expires_at, key = heappop(heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]

    def _drop_soonest(self) -> None:
        expires_at, key = heappop(self._heap)
        if self._expiry.get(key) == expires_at:
            del self._expiry[key]


class RedisReplayCache:
    """A replay cache in Redis, shared by every process using the same server and ``prefix``.

    Each (keyid, nonce) is one key written with ``SET NX`` and an expiry at the signature's end,
    so the check and the remembering are one atomic step across processes.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "lienthong:nonce:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "lienthong:nonce:") -> RedisReplayCache:
        """A cache on the Redis server at ``url`` (``redis://127.0.0.1:6379/0``)."""
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return cls(client, prefix=prefix)

    def seen(self, keyid: str, nonce: str, expires_at: float) -> bool:
        """True when (keyid, nonce) is already remembered; otherwise remember it until expiry."""
        import redis

        ttl_ms = max(1, int((expires_at - self._clock()) * 1000))
        try:
            stored = self._client.set(f"{self._prefix}{keyid}:{nonce}", b"1", nx=True, px=ttl_ms)
        except redis.RedisError as exc:
            raise ReplayCacheUnavailable(
                "the replay cache cannot be reached; the request's freshness is unknown"
            ) from exc
        return stored is None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


__all__ = ["MemoryReplayCache", "RedisReplayCache", "ReplayCache"]
