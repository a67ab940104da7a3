"""Prometheus metrics: requests by route template, upstream calls by result."""

from __future__ import annotations

import asyncio

import pytest

from adapter_api.metrics import Metrics, result_of
from connectors.errors import CircuitOpen, NotFound, UpstreamTimeout


def test_upstream_call_counts_results_and_latency() -> None:
    """Each upstream call is counted with its result and timed; errors still propagate."""
    metrics = Metrics()
    with metrics.upstream_call("population", "GetCitizen"):
        pass
    with pytest.raises(UpstreamTimeout), metrics.upstream_call("population", "GetCitizen"):
        raise UpstreamTimeout("t", upstream="population")
    registry = metrics.registry
    ok = registry.get_sample_value(
        "lienthong_upstream_calls_total",
        {"upstream": "population", "operation": "GetCitizen", "result": "ok"},
    )
    timeout = registry.get_sample_value(
        "lienthong_upstream_calls_total",
        {"upstream": "population", "operation": "GetCitizen", "result": "timeout"},
    )
    count = registry.get_sample_value(
        "lienthong_upstream_call_seconds_count",
        {"upstream": "population", "operation": "GetCitizen"},
    )
    assert (ok, timeout, count) == (1.0, 1.0, 2.0)


def test_result_labels() -> None:
    """Results are a small closed set, so label cardinality stays bounded."""
    assert result_of(None) == "ok"
    assert result_of(NotFound("n", upstream="registry")) == "not_found"
    assert result_of(CircuitOpen("c", upstream="portal")) == "circuit_open"
    assert result_of(ValueError()) == "internal_error"


async def test_render_refreshes_gauges_first() -> None:
    """Scrape callbacks run before rendering, so gauges such as outbox depth are current."""
    metrics = Metrics()

    async def refresh() -> None:
        metrics.outbox_depth.set(7)

    metrics.on_scrape(refresh)
    text = (await metrics.render()).decode()
    assert "lienthong_outbox_depth 7.0" in text


def test_upstream_call_counts_each_call_with_cached_children() -> None:
    """Repeated calls with the same labels keep counting (the labelled children are reused)."""
    metrics = Metrics()
    for _ in range(3):
        with metrics.upstream_call("registry", "GetBusiness"):
            pass
    value = metrics.registry.get_sample_value(
        "lienthong_upstream_calls_total",
        {"upstream": "registry", "operation": "GetBusiness", "result": "ok"},
    )
    assert value == 3.0


def test_log_group_commit_counters_are_served() -> None:
    """The log group commit's transactions and records are counted when metrics are refreshed."""

    class Group:
        transactions = 4
        items = 30

    group = Group()
    metrics = Metrics()
    metrics.watch_log_group(group)  # type: ignore[arg-type]
    registry = metrics.registry
    assert registry.get_sample_value("lienthong_log_transactions_total") == 0.0
    asyncio.run(metrics.refresh())
    group.transactions = 5
    group.items = 31
    asyncio.run(metrics.refresh())
    asyncio.run(metrics.refresh())  # a refresh with nothing new adds nothing
    assert registry.get_sample_value("lienthong_log_transactions_total") == 5.0
    assert registry.get_sample_value("lienthong_log_records_total") == 31.0
