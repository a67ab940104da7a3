"""A rate budget per upstream: a token bucket each, so background jobs never flood an upstream.

``TokenBucket(rate, burst)`` lets ``burst`` calls through at once, then ``rate`` per second. A call
that finds the bucket empty reserves the next token and sleeps until it is due, so concurrent
callers are served in order without a lock (nothing awaits between reading and updating the
bucket). ``RateBudget`` holds one bucket per upstream name; an upstream without a rate is
unlimited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping


class TokenBucket:
    """``rate`` calls per second on average, up to ``burst`` at once."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a token bucket's rate must be positive")
        if burst < 1:
            raise ValueError("a token bucket's burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()

    def reserve(self) -> float:
        """Take one token; the seconds to wait before using it (0 when one was available)."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> None:
        """Wait until one call is within the budget."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)


class RateBudget:
    """One token bucket per upstream; ``acquire(upstream)`` waits for that upstream's budget."""

    def __init__(
        self,
        rates: Mapping[str, float],
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._buckets = {
            upstream: TokenBucket(rate, burst, clock=clock, sleep=sleep)
            for upstream, rate in rates.items()
            if rate > 0
        }

    def bucket(self, upstream: str) -> TokenBucket | None:
        """The bucket of ``upstream`` (``None``: unlimited)."""
        return self._buckets.get(upstream)

    async def acquire(self, upstream: str) -> None:
        """Wait until one call to ``upstream`` is within its budget."""
        bucket = self._buckets.get(upstream)
        if bucket is not None:
            await bucket.acquire()

    @classmethod
    def unlimited(cls) -> RateBudget:
        """A budget that never waits."""
        return cls({})


__all__ = ["RateBudget", "TokenBucket"]
