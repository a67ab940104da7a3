"""Cached tokens and sessions: reuse until near expiry, one fetch at a time, invalidation."""

from __future__ import annotations

import asyncio

from connectors.base import CallContext
from connectors.credentials import CachedSecret

CTX = CallContext.new("province-app")


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_value_is_reused_until_shortly_before_expiry() -> None:
    """A 300 s token is fetched once, reused, and refetched once the 30 s margin is reached."""
    clock = Clock()
    issued: list[str] = []

    async def fetch(time_limit: float, ctx: CallContext) -> tuple[str, float]:
        issued.append(f"t{len(issued)}")
        return issued[-1], 300.0

    cache = CachedSecret(fetch, margin=30.0, clock=clock)
    assert await cache.get(1.0, CTX) == "t0"
    clock.now = 269.0
    assert await cache.get(1.0, CTX) == "t0"
    clock.now = 270.0
    assert await cache.get(1.0, CTX) == "t1"
    assert cache.fetches == 2


async def test_concurrent_callers_share_one_fetch() -> None:
    """Twenty callers arriving together cause a single fetch."""
    calls = 0

    async def fetch(time_limit: float, ctx: CallContext) -> tuple[str, float]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return "shared", 60.0

    cache = CachedSecret(fetch)
    values = await asyncio.gather(*(cache.get(1.0, CTX) for _ in range(20)))
    assert set(values) == {"shared"}
    assert calls == 1


async def test_invalidate_only_drops_the_named_value() -> None:
    """invalidate(old) after someone already refreshed keeps the fresh value."""
    counter = 0

    async def fetch(time_limit: float, ctx: CallContext) -> tuple[str, float]:
        nonlocal counter
        counter += 1
        return f"s{counter}", 600.0

    cache = CachedSecret(fetch)
    first = await cache.get(1.0, CTX)
    cache.invalidate(first)
    second = await cache.get(1.0, CTX)
    assert second != first
    cache.invalidate(first)
    assert await cache.get(1.0, CTX) == second
    cache.invalidate()
    assert cache.current is None


async def test_short_lifetimes_keep_half_their_life() -> None:
    """A lifetime shorter than twice the margin is still cached for half of it."""
    clock = Clock()

    async def fetch(time_limit: float, ctx: CallContext) -> tuple[str, float]:
        return "short", 10.0

    cache = CachedSecret(fetch, margin=30.0, clock=clock)
    await cache.get(1.0, CTX)
    clock.now = 4.9
    assert cache.current is not None
    clock.now = 5.0
    assert cache.current is None
