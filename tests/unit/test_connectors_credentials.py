"""Cached tokens and sessions: reuse until near expiry, one fetch at a time, invalidation,
one renewal when the upstream refuses a value, and reading a value from the login answer."""

from __future__ import annotations

import asyncio

import pytest

from connectors.base import CallContext
from connectors.credentials import CachedSecret, Fetch, read_secret

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


def counting_fetch() -> tuple[list[str], Fetch]:
    """A fetch issuing ``t0``, ``t1``, … (each for 600 s) and the list of what it issued."""
    issued: list[str] = []

    async def fetch(time_limit: float, ctx: CallContext) -> tuple[str, float]:
        await asyncio.sleep(0.01)
        issued.append(f"t{len(issued)}")
        return issued[-1], 600.0

    return issued, fetch


async def test_a_refused_value_is_renewed_once_and_the_call_sent_again() -> None:
    """A refused value is dropped, a new one fetched and the call resent with it."""
    issued, fetch = counting_fetch()
    cache = CachedSecret(fetch)
    sent: list[str] = []

    async def send(value: str) -> str:
        sent.append(value)
        return "expired" if value == "t0" else f"ok with {value}"

    answer = await cache.call_with_renewal(1.0, CTX, send, lambda a: a == "expired")
    assert answer == "ok with t1"
    assert sent == ["t0", "t1"]
    assert issued == ["t0", "t1"]
    assert cache.current is not None
    assert cache.current.value == "t1"


async def test_renewal_happens_at_most_once_per_call() -> None:
    """A value refused again after renewal is not renewed a second time: the answer returns."""
    issued, fetch = counting_fetch()
    cache = CachedSecret(fetch)
    sent: list[str] = []

    async def send(value: str) -> str:
        sent.append(value)
        return "expired"

    assert await cache.call_with_renewal(1.0, CTX, send, lambda a: a == "expired") == "expired"
    assert sent == ["t0", "t1"]
    assert issued == ["t0", "t1"]


async def test_an_accepted_value_is_neither_dropped_nor_refetched() -> None:
    """When the upstream accepts the value, the call is sent once and the value kept."""
    issued, fetch = counting_fetch()
    cache = CachedSecret(fetch)

    async def send(value: str) -> str:
        return f"ok with {value}"

    for _ in range(3):
        assert await cache.call_with_renewal(1.0, CTX, send, lambda a: a == "expired") == (
            "ok with t0"
        )
    assert issued == ["t0"]


async def test_concurrent_calls_refused_together_renew_once() -> None:
    """Ten calls all refused with the same expired value share one new fetch (one login)."""
    issued, fetch = counting_fetch()
    cache = CachedSecret(fetch)
    await cache.get(1.0, CTX)

    async def send(value: str) -> str:
        await asyncio.sleep(0.01)
        return "expired" if value == "t0" else value

    answers = await asyncio.gather(
        *(cache.call_with_renewal(1.0, CTX, send, lambda a: a == "expired") for _ in range(10))
    )
    assert answers == ["t1"] * 10
    assert issued == ["t0", "t1"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"access_token": "abc", "expires_in": 120}, ("abc", 120.0)),
        ({"access_token": "abc", "expires_in": 90.5}, ("abc", 90.5)),
        ({"access_token": "abc"}, ("abc", 300.0)),
        ({"access_token": "", "expires_in": 120}, None),
        ({"access_token": 42, "expires_in": 120}, None),
        ({"access_token": "abc", "expires_in": "120"}, None),
        ({"access_token": "abc", "expires_in": None}, None),
        ({"session": "abc", "expires_in": 120}, None),
        (["abc", 120], None),
        (None, None),
    ],
)
def test_read_secret_takes_a_non_empty_value_and_a_numeric_lifetime(
    answer: object, expected: tuple[str, float] | None
) -> None:
    """The value under its key and ``expires_in`` (the default when absent); else None."""
    assert read_secret(answer, "access_token", 300.0) == expected
