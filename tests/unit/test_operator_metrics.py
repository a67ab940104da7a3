"""The metrics operators watch: per-upstream attempts and latency for all three national systems,
the queue by state, dead letters, the oldest wait, the refresh lag; Prometheus naming; and the
Grafana dashboard in ops/grafana asks only for metrics that exist."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from adapter_api.metrics import MeteredRecorder, Metrics
from connectors.exchange import Exchange, MemoryRecorder
from store.outbox import QueueStats

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops" / "grafana" / "lienthong.json"
EXCHANGES = "lienthong_upstream_exchanges_total"


def _exchange(upstream: str, operation: str, outcome: str, ms: float) -> Exchange:
    start = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
    return Exchange(
        upstream=upstream,
        operation=operation,
        protocol="http",
        message_id="m-1",
        client="province-app",
        sender="adapter",
        receiver=upstream,
        user_id=None,
        issue=None,
        method="POST",
        url="http://x/",
        request=b"",
        request_headers={},
        response=None,
        response_headers={},
        status=None,
        outcome=outcome,
        started_at=start,
        finished_at=start + dt.timedelta(milliseconds=ms),
    )


async def _exposition() -> str:
    metrics = Metrics()
    kept = MemoryRecorder()
    recorder = MeteredRecorder(metrics, kept)
    for exchange in (
        _exchange("population", "GetCitizen", "ok", 12),
        _exchange("registry", "GetBusiness", "timeout", 5000),
        _exchange("portal", "DongBoHoSoMC", "ok", 30),
    ):
        await recorder.record(exchange)
    assert len(kept.exchanges) == 3  # counted, then handed on
    now = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
    metrics.observe_queue(
        QueueStats(
            pending=4,
            delivered=10,
            dead=2,
            in_flight=1,
            backing_off=1,
            oldest_pending_at=now - dt.timedelta(seconds=90),
            now=now,
        )
    )
    metrics.records_refresh_lag.set(120.0)
    return (await metrics.render()).decode()


async def test_upstream_and_queue_figures_are_exposed() -> None:
    """Each upstream's attempts by outcome with latency; queue gauges with the values given."""
    text = await _exposition()
    for line in (
        EXCHANGES + '{operation="GetCitizen",outcome="ok",upstream="population"} 1.0',
        EXCHANGES + '{operation="GetBusiness",outcome="timeout",upstream="registry"} 1.0',
        EXCHANGES + '{operation="DongBoHoSoMC",outcome="ok",upstream="portal"} 1.0',
        'lienthong_outbox_items{state="pending"} 4.0',
        'lienthong_outbox_items{state="dead"} 2.0',
        'lienthong_outbox_dossiers{state="backing_off"} 1.0',
        "lienthong_outbox_dead_letters 2.0",
        "lienthong_outbox_oldest_pending_age_seconds 90.0",
        "lienthong_records_refresh_lag_seconds 120.0",
    ):
        assert line in text, line
    assert (
        'lienthong_upstream_exchange_seconds_bucket{le="5.0",operation="GetBusiness",'
        'upstream="registry"} 1.0' in text
    )


def _families(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (lienthong_\w+) (\w+)$", text, flags=re.MULTILINE))


async def test_names_follow_prometheus_conventions() -> None:
    """snake_case under ``lienthong_``; counters end in ``_total``; times are in ``_seconds``."""
    text = await _exposition()
    families = _families(text)
    assert families
    for name, kind in families.items():
        assert re.fullmatch(r"lienthong_[a-z][a-z0-9_]*", name), name
        if kind == "counter":
            assert name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name
        assert "_ms" not in name, name
        assert "milliseconds" not in name, name


async def test_the_dashboard_asks_only_for_metrics_that_exist() -> None:
    """Every ``lienthong_*`` series the Grafana dashboard queries is one the adapter serves."""
    import sync.metrics  # noqa: F401 - the sync worker's counters, on the default registry

    text = await _exposition()
    suffixes = {"counter": ("", "_total"), "histogram": ("_bucket", "_sum", "_count")}
    served = {
        name + suffix
        for name, kind in _families(text).items()
        for suffix in suffixes.get(kind, ("",))
    }
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    asked = {name for expr in exprs for name in re.findall(r"lienthong_\w+", expr)}
    assert asked, "the dashboard queries nothing"
    assert asked - served == set()
    watched = {
        "lienthong_upstream_exchanges_total",
        "lienthong_upstream_exchange_seconds_bucket",
        "lienthong_outbox_dead_letters",
        "lienthong_outbox_oldest_pending_age_seconds",
        "lienthong_outbox_items",
        "lienthong_records_refresh_lag_seconds",
    }
    assert watched <= asked
