"""When to try a failed delivery again, and when to give up on it.

Delays grow exponentially from ``base`` to ``cap`` with "equal jitter" (a random point in the upper
half of the step), so workers that failed together do not come back together. A delivery is given
up on (a dead letter) after ``max_attempts`` failed attempts or ``max_age`` since its first
attempt, whichever comes first; the defaults ride out a portal that is down for most of a day.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff between attempts (seconds) and the budget after which a delivery is dead."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0
    max_attempts: int = 500
    max_age: dt.timedelta = dt.timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.factor < 1 or self.max_attempts < 1:
            raise ValueError("retry policy needs 0 < base <= cap, factor >= 1, max_attempts >= 1")

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1 for the first)."""
        step = min(self.cap, self.base * self.factor ** max(0, min(failures - 1, 64)))
        return step / 2 + (rng or random).uniform(0, step / 2)

    def exhausted(
        self, failures: int, first_attempt_at: dt.datetime | None, now: dt.datetime
    ) -> bool:
        """Whether a delivery that failed ``failures`` times has used up its budget."""
        if failures >= self.max_attempts:
            return True
        return first_attempt_at is not None and now - first_attempt_at >= self.max_age


__all__ = ["RetryPolicy"]
