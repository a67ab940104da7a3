"""The metrics' tallies against ``Counter.inc()`` and ``Histogram.observe()``: the same samples.

``Metrics`` counts and times requests, upstream calls and exchanges through tallies: in one
process plain numbers the children's values read (``_Tally``), in multiprocess mode written
straight to the children's values, each to its file (``_SharedTally``). Here the same
observations go through the public ``prometheus_client`` calls on a second ``Metrics``, in
either mode, and every sample must come out the same: the registry's, and in multiprocess mode
what ``/metrics`` serves from the files.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import CollectorRegistry

from adapter_api.metrics import (
    _LATENCY_BUCKETS,
    MULTIPROCESS_VARIABLE,
    Metrics,
    _SharedTally,
    _Tally,
    result_of,
)
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
TEMPLATE = "/v1/citizens/{id}"
MODES = ["one process", "multiprocess"]
Sample = tuple[str, dict[str, str], Any, Any]


def _samples(registry: Any) -> list[Sample]:
    found = []
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue
            value = "nan" if math.isnan(sample.value) else sample.value
            exemplar = sample.exemplar  # its time is when it was set: not compared
            kept = None if exemplar is None else (exemplar.labels, exemplar.value)
            found.append((sample.name, sample.labels, value, kept))
    return sorted(found, key=repr)


class _Mode:
    """Makes ``Metrics`` as a process in one mode makes them: in multiprocess mode with the
    values in the files of a folder of their own (as a worker of its own would)."""

    def __init__(self, mode: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.multiprocess = mode == "multiprocess"
        self._folder = folder
        self._monkeypatch = monkeypatch
        self._made: list[Any] = []

    def metrics(self, name: str) -> Metrics:
        """A new ``Metrics``; in multiprocess mode, its children made from now on write to the
        files of folder ``name`` (make them before the next ``metrics()``)."""
        if not self.multiprocess:
            return Metrics()
        folder = self._folder / name
        folder.mkdir()
        self._monkeypatch.setenv(MULTIPROCESS_VARIABLE, str(folder))
        value_class = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        self._monkeypatch.setattr(values, "ValueClass", value_class)
        self._made.append(value_class)
        return Metrics(str(folder))

    def served(self, metrics: Metrics) -> list[Sample]:
        """What ``/metrics`` serves of ``metrics`` in multiprocess mode (from the files)."""
        assert metrics.multiprocess_dir is not None
        shared = CollectorRegistry()
        MultiProcessCollector(shared, path=metrics.multiprocess_dir)  # type: ignore[no-untyped-call]
        return _samples(shared)

    def close(self) -> None:
        for value_class in self._made:
            value_class.close_all_files()


@pytest.fixture(params=MODES)
def mode(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[_Mode]:
    made = _Mode(request.param, tmp_path, monkeypatch)
    yield made
    made.close()


def _tallies(metrics: Metrics) -> list[Any]:
    return [
        *metrics._request_tallies.values(),
        *metrics._upstream_tallies.values(),
        *metrics._exchange_tallies.values(),
    ]


def _assert_same(mode: _Mode, fast: Metrics, plain: Metrics) -> None:
    """The same samples in the registries and, in multiprocess mode, served from the files;
    the fast ``Metrics`` counted through the tally of its mode."""
    assert _samples(fast.registry) == _samples(plain.registry)
    kind = _SharedTally if mode.multiprocess else _Tally
    assert _tallies(fast)
    assert all(type(tally) is kind for tally in _tallies(fast))
    if mode.multiprocess:
        assert mode.served(fast) == mode.served(plain)
        assert asyncio.run(fast.render()) == asyncio.run(plain.render())


class _Timed:
    """What ``observe_exchange`` reads of an exchange."""

    def __init__(self, outcome: str, seconds: float) -> None:
        self.upstream, self.operation, self.outcome = "population", "GetCitizen", outcome
        self.duration_ms = seconds * 1000.0


class _Route:
    path = TEMPLATE


def _observe_fast(metrics: Metrics, seconds: float) -> None:
    for status in (200, 404):
        metrics.observe_request({"method": "GET", "route": _Route()}, status, seconds)
    metrics.observe_request({"method": "BREW"}, 418, seconds)
    for error in (None, NotFound("n", upstream="population"), UpstreamTimeout("t", upstream="p")):
        metrics.observe_upstream_call("population", "GetCitizen", error, seconds)
        metrics.observe_upstream_call("population", "GetCitizen", error, seconds)
    for outcome in ("ok", "timeout"):
        metrics.observe_exchange(_Timed(outcome, seconds))


def _observe_plain(metrics: Metrics, seconds: float) -> None:
    for status in (200, 404):
        metrics.requests.labels(TEMPLATE, "GET", str(status)).inc()
        metrics.request_seconds.labels(TEMPLATE).observe(seconds)
    metrics.requests.labels("unmatched", "OTHER", "418").inc()
    metrics.request_seconds.labels("unmatched").observe(seconds)
    for error in (None, NotFound("n", upstream="population"), UpstreamTimeout("t", upstream="p")):
        for _ in range(2):
            metrics.upstream_calls.labels("population", "GetCitizen", result_of(error)).inc()
            metrics.upstream_seconds.labels("population", "GetCitizen").observe(seconds)
    for outcome in ("ok", "timeout"):
        metrics.upstream_exchanges.labels("population", "GetCitizen", outcome).inc()
        metrics.upstream_exchange_seconds.labels("population", "GetCitizen").observe(
            seconds * 1000.0 / 1000.0
        )


@pytest.mark.parametrize("seconds", SECONDS)
def test_every_tally_gives_the_samples_of_the_public_calls(mode: _Mode, seconds: float) -> None:
    fast = mode.metrics("fast")
    _observe_fast(fast, seconds)
    plain = mode.metrics("plain")
    _observe_plain(plain, seconds)
    _assert_same(mode, fast, plain)


def test_many_observations_add_as_the_public_calls_add(mode: _Mode) -> None:
    """Every duration, over and over: the sums add in the same order, to the same floats."""
    fast = mode.metrics("fast")
    for _ in range(3):
        for seconds in SECONDS[:-2]:  # not NaN, which makes every sum NaN
            _observe_fast(fast, seconds)
    plain = mode.metrics("plain")
    for _ in range(3):
        for seconds in SECONDS[:-2]:
            _observe_plain(plain, seconds)
    _assert_same(mode, fast, plain)


def _mixed(metrics: Metrics, *, tallied: bool) -> None:
    """Counts through a child's own calls before and after a tally is made for it, with an
    exemplar, a reset and a set among them (``tallied``: the tally counts the middle ones)."""
    requests = metrics.requests.labels(TEMPLATE, "GET", "200")
    seconds = metrics.request_seconds.labels(TEMPLATE)
    requests.inc(3, exemplar={"trace_id": "a"})
    seconds.observe(0.2, exemplar={"trace_id": "b"})
    for duration in (0.003, 0.7, 42.0):
        if tallied:
            metrics.observe_request({"method": "GET", "route": _Route()}, 200, duration)
        else:
            requests.inc()
            seconds.observe(duration)
    requests.inc(2, exemplar={"trace_id": "c"})
    seconds.observe(0.004, exemplar={"trace_id": "d"})
    calls = metrics.upstream_calls.labels("registry", "GetBusiness", "ok")
    if tallied:
        metrics.observe_upstream_call("registry", "GetBusiness", None, 0.01)
    else:
        calls.inc()
        metrics.upstream_seconds.labels("registry", "GetBusiness").observe(0.01)
    calls.reset()
    calls.inc(5)


def test_a_tallied_child_still_counts_its_own_calls(mode: _Mode) -> None:
    """A child's ``inc()``, ``observe()``, exemplar and ``reset()`` go to the tally's numbers."""
    fast = mode.metrics("fast")
    _mixed(fast, tallied=True)
    plain = mode.metrics("plain")
    _mixed(plain, tallied=False)
    _assert_same(mode, fast, plain)


def test_threads_lose_no_count(mode: _Mode) -> None:
    """The tally's numbers change under one lock: threads counting at once lose nothing."""
    metrics = mode.metrics("threads")
    scope = {"method": "GET", "route": _Route()}
    metrics.observe_request(scope, 200, 0.5)

    def count() -> None:
        for _ in range(2000):
            metrics.observe_request(scope, 200, 0.5)

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    labels = {"route": TEMPLATE}
    get: Callable[..., Any] = metrics.registry.get_sample_value
    assert get("lienthong_http_requests_total", {**labels, "method": "GET", "status": "200"}) == (
        8001.0
    )
    assert get("lienthong_http_request_seconds_count", labels) == 8001.0
    assert get("lienthong_http_request_seconds_sum", labels) == 4000.5
    assert get("lienthong_http_request_seconds_bucket", {**labels, "le": "0.5"}) == 8001.0
    assert get("lienthong_http_request_seconds_bucket", {**labels, "le": "0.25"}) == 0.0
