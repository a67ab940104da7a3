"""Exponential backoff with jitter, and when to give up (shared by webhooks and notices)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``base`` seconds doubled per attempt up to ``cap``, ±``jitter``; dead after ``attempts``."""

    base: float = 1.0
    cap: float = 600.0
    jitter: float = 0.2
    attempts: int = 10

    def next_attempt(
        self, attempts_so_far: int, now: dt.datetime, rng: random.Random | None = None
    ) -> dt.datetime | None:
        """When to try again after the ``attempts_so_far + 1``-th failure; None: give up."""
        if attempts_so_far + 1 >= self.attempts:
            return None
        delay = min(self.cap, self.base * (2**attempts_so_far))
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return now + dt.timedelta(seconds=delay * spread)


__all__ = ["Backoff"]
