"""The metrics' tallies against ``Counter.inc()`` and ``Histogram.observe()``: the same samples.

``Metrics`` counts and times requests, upstream calls and exchanges by writing straight to the
labelled children's values (``_Tally``); here the same observations go through the public
``prometheus_client`` calls on a second ``Metrics``, and every sample must come out the same.
"""

from __future__ import annotations

import math

import pytest

from adapter_api.metrics import _LATENCY_BUCKETS, Metrics, result_of
from connectors.errors import NotFound, UpstreamTimeout

#: below, on and between the bounds, past the last one, zero, negative, NaN
SECONDS = [
    0.0,
    0.0004,
    *_LATENCY_BUCKETS,
    *(bound * 1.5 for bound in _LATENCY_BUCKETS),
    12.0,
    1e9,
    -0.5,
    math.nan,
    math.inf,
]


def _samples(metrics: Metrics) -> list[tuple[str, dict[str, str], float]]:
    found = []
    for metric in metrics.registry.collect():
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue
            value = "nan" if math.isnan(sample.value) else sample.value
            found.append((sample.name, sample.labels, value))
    return sorted(found, key=repr)


class _Timed:
    """What ``observe_exchange`` reads of an exchange."""

    def __init__(self, outcome: str, seconds: float) -> None:
        self.upstream, self.operation, self.outcome = "population", "GetCitizen", outcome
        self.duration_ms = seconds * 1000.0


@pytest.mark.parametrize("seconds", SECONDS)
def test_every_tally_gives_the_samples_of_the_public_calls(seconds: float) -> None:
    fast, plain = Metrics(), Metrics()
    for status in (200, 404):
        scope = {"method": "GET", "route": type("R", (), {"path": "/v1/citizens/{id}"})()}
        fast.observe_request(scope, status, seconds)
        template = "/v1/citizens/{id}"
        plain.requests.labels(template, "GET", str(status)).inc()
        plain.request_seconds.labels(template).observe(seconds)
    for error in (None, NotFound("n", upstream="population"), UpstreamTimeout("t", upstream="p")):
        fast.observe_upstream_call("population", "GetCitizen", error, seconds)
        fast.observe_upstream_call("population", "GetCitizen", error, seconds)
        for _ in range(2):
            plain.upstream_calls.labels("population", "GetCitizen", result_of(error)).inc()
            plain.upstream_seconds.labels("population", "GetCitizen").observe(seconds)
    for outcome in ("ok", "timeout"):
        fast.observe_exchange(_Timed(outcome, seconds))
        plain.upstream_exchanges.labels("population", "GetCitizen", outcome).inc()
        plain.upstream_exchange_seconds.labels("population", "GetCitizen").observe(
            seconds * 1000.0 / 1000.0
        )
    assert _samples(fast) == _samples(plain)
