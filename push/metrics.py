"""Prometheus metrics of push, per channel (``webhook``, ``zns``, ``sms``), on the default registry.

``lienthong_push_total{channel, outcome}`` counts what became of each attempt: ``delivered``,
``retry``, ``dead``, ``skipped`` (no consent, opted out), ``deferred`` (quiet hours) and
``fallback`` (ZNS refused, sent by SMS instead).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PUSHED = Counter(
    "lienthong_push_total", "Push attempts by channel and outcome.", ["channel", "outcome"]
)
CYCLE_SECONDS = Histogram(
    "lienthong_push_cycle_seconds",
    "Time to deliver one claimed batch and settle it, by channel kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def count(channel: str, outcome: str, amount: int = 1) -> None:
    """Count ``amount`` attempts of ``channel`` that ended in ``outcome``."""
    if amount:
        PUSHED.labels(channel=channel, outcome=outcome).inc(amount)


__all__ = ["CYCLE_SECONDS", "PUSHED", "count"]
