"""The circuit breaker, the retry policy, the deadline and the concurrency limit, on fakes."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from connectors.base import BreakerSettings, BreakerState, RetrySettings, Timeouts, UpstreamConfig
from connectors.errors import (
    CircuitOpen,
    InvalidRequest,
    NotFound,
    TransientError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from connectors.resilience import CircuitBreaker, ConcurrencyLimiter, Resilience


class ManualClock:
    """A monotonic clock that moves only when told (sleeps advance it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _config(**changes: object) -> UpstreamConfig:
    base = UpstreamConfig(
        name="population",
        base_url="http://127.0.0.1:1",
        timeouts=Timeouts(connect=1.0, attempt=2.0),
        retry=RetrySettings(
            attempts=4, initial_backoff=0.1, max_backoff=1.0, jitter=0.0, deadline=30
        ),
        breaker=BreakerSettings(failure_threshold=3, reset_timeout=10.0, half_open_probes=1),
        max_concurrency=4,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _unavailable() -> UpstreamUnavailable:
    return UpstreamUnavailable("down", upstream="population", fault_code="http_503", status=503)


def test_breaker_opens_after_threshold_and_fails_fast() -> None:
    """Consecutive transient failures up to the threshold open the breaker; then calls fail fast."""
    clock = ManualClock()
    breaker = CircuitBreaker("population", BreakerSettings(failure_threshold=3), clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.on_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.on_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as info:
        breaker.before_call("m-1")
    assert info.value.upstream == "population"
    assert info.value.message_id == "m-1"
    assert info.value.fault_code == "circuit_open"


def test_breaker_half_opens_admits_one_probe_and_closes_on_success() -> None:
    """After the reset timeout one probe goes through, others fail fast; its success closes."""
    clock = ManualClock()
    breaker = CircuitBreaker(
        "registry", BreakerSettings(failure_threshold=1, reset_timeout=5.0), clock=clock
    )
    breaker.on_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 5.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    breaker.on_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()


def test_breaker_reopens_when_the_probe_fails() -> None:
    """A failed probe re-opens the breaker for another full reset timeout."""
    clock = ManualClock()
    breaker = CircuitBreaker(
        "portal", BreakerSettings(failure_threshold=2, reset_timeout=5.0), clock=clock
    )
    breaker.on_failure()
    breaker.on_failure()
    clock.now += 6.0
    breaker.before_call()
    breaker.on_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.0
    assert breaker.state is BreakerState.OPEN
    clock.now += 1.0
    assert breaker.state is BreakerState.HALF_OPEN


def test_breaker_success_resets_the_failure_count() -> None:
    """Failures must be consecutive: a success in between starts the count again."""
    breaker = CircuitBreaker(
        "population", BreakerSettings(failure_threshold=2), clock=ManualClock()
    )
    breaker.on_failure()
    breaker.on_success()
    breaker.on_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 1


def test_abandoned_probe_frees_the_probe_slot() -> None:
    """A probe that ends without a verdict (cancelled) lets the next call probe instead."""
    clock = ManualClock()
    breaker = CircuitBreaker(
        "population", BreakerSettings(failure_threshold=1, reset_timeout=1.0), clock=clock
    )
    breaker.on_failure()
    clock.now += 1.0
    breaker.before_call()
    breaker.on_abandon()
    breaker.before_call()
    assert breaker.state is BreakerState.HALF_OPEN


async def test_transient_failures_are_retried_until_success() -> None:
    """Two 503s then an answer: the call succeeds after three attempts with growing waits."""
    clock = ManualClock()
    resilience = Resilience(_config(), clock=clock, sleep=clock.sleep)
    calls: list[float] = []

    async def attempt(timeout: float) -> str:
        calls.append(timeout)
        if len(calls) < 3:
            raise _unavailable()
        return "citizen"

    assert await resilience.call(attempt, message_id="m-2") == "citizen"
    assert len(calls) == 3
    assert calls[0] == 2.0
    assert len(clock.sleeps) == 2
    assert clock.sleeps[1] > clock.sleeps[0]
    assert resilience.breaker.state is BreakerState.CLOSED
    assert resilience.last_success is not None


@pytest.mark.parametrize("error", [NotFound, InvalidRequest])
async def test_permanent_failures_are_never_retried(error: type[Exception]) -> None:
    """A permanent refusal is raised after one attempt and does not count against the breaker."""
    clock = ManualClock()
    resilience = Resilience(_config(), clock=clock, sleep=clock.sleep)
    calls = 0

    async def attempt(timeout: float) -> str:
        nonlocal calls
        calls += 1
        raise error("no", upstream="population", fault_code="CITIZEN_NOT_FOUND")

    with pytest.raises(error) as info:
        await resilience.call(attempt, message_id="m-3")
    assert calls == 1
    assert clock.sleeps == []
    assert info.value.message_id == "m-3"  # type: ignore[attr-defined]
    assert resilience.breaker.consecutive_failures == 0
    assert resilience.last_failure_code == "CITIZEN_NOT_FOUND"


async def test_retries_stop_after_the_attempt_limit() -> None:
    """An upstream that keeps failing is tried ``attempts`` times, then the last error is raised."""
    clock = ManualClock()
    resilience = Resilience(
        _config(breaker=BreakerSettings(failure_threshold=100)), clock=clock, sleep=clock.sleep
    )
    calls = 0

    async def attempt(timeout: float) -> str:
        nonlocal calls
        calls += 1
        raise _unavailable()

    with pytest.raises(UpstreamUnavailable) as info:
        await resilience.call(attempt, message_id="m-4")
    assert calls == 4
    assert info.value.message_id == "m-4"


async def test_overall_deadline_bounds_attempts_and_waits() -> None:
    """With a short deadline, attempt timeouts shrink to what is left and no wait overshoots it."""
    clock = ManualClock()
    config = _config(
        retry=RetrySettings(
            attempts=10, initial_backoff=1.0, max_backoff=1.0, jitter=0.0, deadline=3.5
        ),
        breaker=BreakerSettings(failure_threshold=100),
    )
    resilience = Resilience(config, clock=clock, sleep=clock.sleep)
    timeouts: list[float] = []

    async def attempt(timeout: float) -> str:
        timeouts.append(timeout)
        clock.now += 0.5
        raise _unavailable()

    with pytest.raises(TransientError):
        await resilience.call(attempt)
    assert 1 < len(timeouts) < 10
    assert clock.now - 1000.0 <= 3.5
    assert all(t <= 3.5 for t in timeouts)
    assert timeouts[-1] < timeouts[0]


async def test_slow_attempt_becomes_upstream_timeout() -> None:
    """An attempt that outlives its timeout is cancelled and surfaces as ``UpstreamTimeout``."""
    config = _config(
        timeouts=Timeouts(connect=0.05, attempt=0.05),
        retry=RetrySettings(attempts=1, deadline=1.0),
    )
    resilience = Resilience(config)

    async def attempt(timeout: float) -> str:
        await asyncio.sleep(5)
        return "late"

    with pytest.raises(UpstreamTimeout) as info:
        await resilience.call(attempt, message_id="m-5")
    assert info.value.fault_code == "timeout"
    assert info.value.message_id == "m-5"
    assert resilience.breaker.consecutive_failures == 1


async def test_open_breaker_is_not_retried_and_sends_nothing() -> None:
    """Once the breaker is open, a call fails fast with ``CircuitOpen`` and makes no attempt."""
    clock = ManualClock()
    config = _config(breaker=BreakerSettings(failure_threshold=2, reset_timeout=60))
    resilience = Resilience(config, clock=clock, sleep=clock.sleep)
    calls = 0

    async def attempt(timeout: float) -> str:
        nonlocal calls
        calls += 1
        raise _unavailable()

    with pytest.raises(CircuitOpen):
        await resilience.call(attempt)
    assert calls == 2
    with pytest.raises(CircuitOpen):
        await resilience.call(attempt)
    assert calls == 2


async def test_breaker_recovers_after_reset_timeout() -> None:
    """After an outage opened the breaker, a successful probe closes it again."""
    clock = ManualClock()
    config = _config(breaker=BreakerSettings(failure_threshold=1, reset_timeout=5))
    resilience = Resilience(config, clock=clock, sleep=clock.sleep)
    healthy = False

    async def attempt(timeout: float) -> str:
        if not healthy:
            raise _unavailable()
        return "ok"

    with pytest.raises(CircuitOpen):
        await resilience.call(attempt)
    healthy = True
    clock.now += 5
    assert resilience.breaker.state is BreakerState.HALF_OPEN
    assert await resilience.call(attempt) == "ok"
    assert resilience.breaker.state is BreakerState.CLOSED


async def test_concurrency_limit_caps_calls_in_flight() -> None:
    """No more than ``max_concurrency`` attempts run at once; the rest wait their turn."""
    resilience = Resilience(_config(max_concurrency=2))
    running = 0
    peak = 0

    async def attempt(timeout: float) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return 1

    results = await asyncio.gather(*(resilience.call(attempt) for _ in range(8)))
    assert sum(results) == 8
    assert peak == 2
    assert resilience.limiter.in_flight == 0


def test_limiter_refuses_a_zero_limit() -> None:
    """A concurrency limit below one is a configuration error."""
    with pytest.raises(ValueError, match="at least 1"):
        ConcurrencyLimiter(0)
