"""Backoff with jitter up to a cap, and the budget that turns a delivery into a dead letter."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from sync.backoff import RetryPolicy


def test_delays_grow_then_stay_under_the_cap() -> None:
    """Each delay lies in the upper half of its exponential step, and never above the cap."""
    policy = RetryPolicy(base=1.0, factor=2.0, cap=60.0)
    rng = random.Random(7)
    for failures in range(1, 40):
        step = min(60.0, 2.0 ** (failures - 1))
        delay = policy.delay(failures, rng)
        assert step / 2 <= delay <= step
    assert policy.delay(1000, rng) <= 60.0


def test_jitter_spreads_workers_that_failed_together() -> None:
    """Many deliveries failing at once come back at different times."""
    policy = RetryPolicy(base=1.0, cap=300.0)
    rng = random.Random(1)
    delays = {round(policy.delay(8, rng), 3) for _ in range(50)}
    assert len(delays) > 40


def test_budget_counts_attempts_and_age() -> None:
    """The budget ends at max_attempts failures or max_age after the first attempt."""
    policy = RetryPolicy(max_attempts=5, max_age=dt.timedelta(hours=1))
    start = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    assert not policy.exhausted(4, start, start + dt.timedelta(minutes=59))
    assert policy.exhausted(5, start, start)
    assert policy.exhausted(1, start, start + dt.timedelta(hours=1))


def test_nonsense_policies_are_refused() -> None:
    """A cap below the base or a zero budget is a configuration error."""
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(base=10, cap=1)
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(max_attempts=0)
