"""Prometheus metrics of one adapter process, on a registry of its own (no globals).

* ``lienthong_http_requests_total{route,method,status}`` and ``lienthong_http_request_seconds``
  — counted by :meth:`Metrics.observe_request` (the adapter's front layer calls it) with the
  route *template* as label;
* ``lienthong_upstream_calls_total{upstream,operation,result}`` and
  ``lienthong_upstream_call_seconds{upstream,operation}`` — by :meth:`Metrics.upstream_call`;
* ``lienthong_upstream_breaker_state{upstream}`` (0 closed, 1 half-open, 2 open) and
  ``lienthong_outbox_depth`` — refreshed from callbacks when ``/metrics`` is scraped;
* ``lienthong_upstream_exchanges_total{upstream,operation,outcome}`` and
  ``lienthong_upstream_exchange_seconds{upstream,operation}`` — every attempt with any of the
  three national systems (the portal's from the sync worker too), counted by
  :class:`MeteredRecorder` as the connectors hand it to the message log;
* ``lienthong_outbox_items{state}`` (pending, delivered, dead), ``lienthong_outbox_dossiers{state}``
  (in_flight, backing_off), ``lienthong_outbox_dead_letters`` (waiting for an operator),
  ``lienthong_outbox_oldest_pending_age_seconds`` and ``lienthong_records_refresh_lag_seconds``
  (since the last finished refresh of watched records) — set when ``/metrics`` is scraped;
* ``lienthong_log_transactions_total`` and ``lienthong_log_records_total`` — transactions of the
  message-log / access-log group commit and the records they held (records per transaction is
  how much one commit, one fsync on SQLite, serves);
* the default registry's collectors (the sync worker's, the process's) are served after them.

Several worker processes (``serve --workers N``) share their counts through prometheus_client's
multiprocess mode: the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start,
every value then lives in a file of that folder, and ``/metrics`` (whichever worker answers)
adds up all of them. The gauges say how they combine: the worst breaker state of the live
workers, the outbox depth last measured. Each worker refreshes its gauges and its group-commit
counts every few seconds (:class:`MetricsRefresh`), not only when it answers a scrape. The
process collector's figures (memory, CPU) are per process and are not served in that mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import Scope

from connectors.errors import (
    CircuitOpen,
    ConnectorError,
    NotFound,
    PermanentError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from connectors.exchange import Exchange, ExchangeRecorder
from store.outbox import QueueStats

log = logging.getLogger("lienthong.api")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
#: prometheus_client reads it when imported: the supervisor sets it before a worker starts
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def result_of(exc: BaseException | None) -> str:
    """The ``result`` label of an upstream call that raised ``exc`` (``ok`` when none)."""
    if exc is None:
        return "ok"
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, CircuitOpen):
        return "circuit_open"
    if isinstance(exc, UpstreamUnavailable):
        return "unavailable"
    if isinstance(exc, PermanentError):
        return "rejected"
    if isinstance(exc, ConnectorError):
        return "error"
    return "internal_error"


class _Tally:
    """One labelled counter and one labelled histogram, counted and timed together.

    Written straight to the children's values (``prometheus_client``'s ``MutexValue``, or its
    ``MmapedValue`` in multiprocess mode): what ``Counter.inc()`` and ``Histogram.observe()``
    do for a child, without their checks that a labelled child passes anyway (observable, a
    non-negative increment, no exemplar) and with the bucket found by bisection rather than by
    a loop over the bounds. The samples are the same (``tests/unit/test_api_metrics_tally.py``).
    """

    __slots__ = ("_bounds", "_buckets", "_count", "_sum")

    def __init__(self, counter: Any, histogram: Any) -> None:
        self._count = counter._value.inc
        self._sum = histogram._sum.inc
        self._bounds: list[float] = list(histogram._upper_bounds)
        self._buckets = [bucket.inc for bucket in histogram._buckets]

    def add(self, seconds: float) -> None:
        """Count one, and time it ``seconds`` (the first bucket whose bound is not below it)."""
        self._count(1)
        self._sum(seconds)
        bounds = self._bounds
        index = bisect_left(bounds, seconds)
        if index < len(bounds) and seconds <= bounds[index]:  # not NaN, which fits no bucket
            self._buckets[index](1)


class CommitFigures(Protocol):
    """What the store tells of a group commit (``store.logs.LookupLogs``): counters only."""

    @property
    def transactions(self) -> int:
        """Transactions committed so far."""
        ...

    @property
    def items(self) -> int:
        """Records the committed transactions held."""
        ...


class Metrics:
    """The process's collectors; ``render()`` is what ``/metrics`` answers."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        #: the folder the workers' values are shared in, or None for one process
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "lienthong_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "lienthong_http_request_seconds",
            "Time to answer an HTTP request, by route template",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_calls = Counter(
            "lienthong_upstream_calls",
            "Calls to the national systems, by upstream, operation and result",
            ["upstream", "operation", "result"],
            registry=self.registry,
        )
        self.upstream_seconds = Histogram(
            "lienthong_upstream_call_seconds",
            "Latency of calls to the national systems, retries included",
            ["upstream", "operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.breaker_state = Gauge(
            "lienthong_upstream_breaker_state",
            "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open",
            ["upstream"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.outbox_depth = Gauge(
            "lienthong_outbox_depth",
            "Dossier messages waiting in the outbox for the portal",
            registry=self.registry,
            multiprocess_mode="livemostrecent",
        )
        self.log_transactions = Counter(
            "lienthong_log_transactions",
            "Transactions committed by the message-log / access-log group commit",
            registry=self.registry,
        )
        self.log_records = Counter(
            "lienthong_log_records",
            "Message-log and access-log records committed by the group commit",
            registry=self.registry,
        )
        self.upstream_exchanges = Counter(
            "lienthong_upstream_exchanges",
            "Attempts at calls to the national systems, by upstream, operation and outcome",
            ["upstream", "operation", "outcome"],
            registry=self.registry,
        )
        self.upstream_exchange_seconds = Histogram(
            "lienthong_upstream_exchange_seconds",
            "Latency of one attempt at a call to a national system",
            ["upstream", "operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.outbox_items = Gauge(
            "lienthong_outbox_items",
            "Outbox items by state (pending, delivered, dead)",
            ["state"],
            registry=self.registry,
            multiprocess_mode="livemostrecent",
        )
        self.outbox_dossiers = Gauge(
            "lienthong_outbox_dossiers",
            "Dossiers whose head is in flight or backing off",
            ["state"],
            registry=self.registry,
            multiprocess_mode="livemostrecent",
        )
        self.outbox_dead_letters = Gauge(
            "lienthong_outbox_dead_letters",
            "Deliveries given up on, waiting for an operator (lienthong sync dead-letters)",
            registry=self.registry,
            multiprocess_mode="livemostrecent",
        )
        self.outbox_oldest_pending_age = Gauge(
            "lienthong_outbox_oldest_pending_age_seconds",
            "Age of the oldest dossier event not yet delivered to the portal (0 when none)",
            registry=self.registry,
            multiprocess_mode="livemostrecent",
        )
        self.records_refresh_lag = Gauge(
            "lienthong_records_refresh_lag_seconds",
            "Seconds since the last finished refresh of the watched records",
            registry=self.registry,
            multiprocess_mode="livemostrecent",
        )
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        # labelled children, looked up once (``labels()`` takes a lock and validates each time)
        self._upstream_tallies: dict[tuple[str, str, str], _Tally] = {}
        self._request_tallies: dict[tuple[str, str, int], _Tally] = {}
        self._exchange_tallies: dict[tuple[str, str, str], _Tally] = {}

    @classmethod
    def for_process(cls) -> Metrics:
        """This process's metrics, shared with the other workers when the supervisor says so."""
        return cls(os.environ.get(MULTIPROCESS_VARIABLE) or None)

    def watch_log_group(self, group: CommitFigures) -> None:
        """Count the log group commit's transactions and records (``lienthong_log_*``)."""
        counted = [0, 0]

        async def count() -> None:
            transactions, records = group.transactions, group.items
            self.log_transactions.inc(transactions - counted[0])
            self.log_records.inc(records - counted[1])
            counted[:] = [transactions, records]

        self.on_scrape(count)

    def on_scrape(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run ``refresh`` before each scrape (to set gauges such as breaker state)."""
        self._refreshers.append(refresh)

    async def refresh(self) -> None:
        """Run the scrape-time refreshers (gauges, group-commit counts)."""
        for refresh in self._refreshers:
            await refresh()

    async def render(self) -> bytes:
        """The text exposition format, after refreshing the gauges.

        One process: the process-wide default registry (the sync worker's counters, process
        memory and CPU) is appended to this adapter's own. Several: the sum over all workers'
        files, the sync worker's counters among them.
        """
        await self.refresh()
        if self.multiprocess_dir is not None:
            shared = CollectorRegistry()
            MultiProcessCollector(shared, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            return generate_latest(shared)
        return generate_latest(self.registry) + generate_latest(REGISTRY)

    def observe_exchange(self, exchange: ExchangeLike) -> None:
        """Count and time one attempt with an upstream (see :class:`MeteredRecorder`)."""
        key = (exchange.upstream, exchange.operation, exchange.outcome)
        tally = self._exchange_tallies.get(key)
        if tally is None:
            tally = self._exchange_tallies[key] = _Tally(
                self.upstream_exchanges.labels(*key),
                self.upstream_exchange_seconds.labels(key[0], key[1]),
            )
        tally.add(exchange.duration_ms / 1000.0)

    def observe_queue(self, stats: QueueStats) -> None:
        """Set the outbox gauges from one ``SqlOutbox.stats()``."""
        self.outbox_depth.set(stats.pending)
        for state, count in (
            ("pending", stats.pending),
            ("delivered", stats.delivered),
            ("dead", stats.dead),
        ):
            self.outbox_items.labels(state).set(count)
        self.outbox_dossiers.labels("in_flight").set(stats.in_flight)
        self.outbox_dossiers.labels("backing_off").set(stats.backing_off)
        self.outbox_dead_letters.set(stats.dead)
        age = stats.oldest_pending_age
        self.outbox_oldest_pending_age.set(age.total_seconds() if age is not None else 0.0)

    def observe_request(self, scope: Scope, status: int, seconds: float) -> None:
        """Count and time one HTTP request answered ``status`` after ``seconds``, labelled by its
        route template (``unmatched`` when routing found none) and method."""
        template = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        key = (template, method, status)
        tally = self._request_tallies.get(key)
        if tally is None:
            tally = self._request_tallies[key] = _Tally(
                self.requests.labels(template, method, str(status)),
                self.request_seconds.labels(template),
            )
        tally.add(seconds)

    def upstream_call(self, upstream: str, operation: str) -> UpstreamCall:
        """Count and time one upstream call made inside the ``with`` block."""
        return UpstreamCall(self, upstream, operation)

    def observe_upstream_call(
        self, upstream: str, operation: str, error: BaseException | None, seconds: float
    ) -> None:
        """Count and time one upstream call that took ``seconds`` and raised ``error``."""
        key = (upstream, operation, result_of(error))
        tally = self._upstream_tallies.get(key)
        if tally is None:
            tally = self._upstream_tallies[key] = _Tally(
                self.upstream_calls.labels(*key),
                self.upstream_seconds.labels(upstream, operation),
            )
        tally.add(seconds)


class UpstreamCall:
    """The ``with`` block of :meth:`Metrics.upstream_call`: times the call, counts its result
    (the exception it raised, which goes on). A class rather than a generator: one call fewer
    on each side of the block."""

    __slots__ = ("_metrics", "_operation", "_started", "_upstream")

    def __init__(self, metrics: Metrics, upstream: str, operation: str) -> None:
        self._metrics = metrics
        self._upstream = upstream
        self._operation = operation
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        seconds = time.perf_counter() - self._started
        self._metrics.observe_upstream_call(self._upstream, self._operation, error, seconds)


class ExchangeLike(Protocol):
    """What :class:`MeteredRecorder` reads of a ``connectors.exchange.Exchange``."""

    @property
    def upstream(self) -> str: ...

    @property
    def operation(self) -> str: ...

    @property
    def outcome(self) -> str: ...

    @property
    def duration_ms(self) -> float: ...


class MeteredRecorder:
    """An exchange recorder that counts each exchange, then hands it to the next recorder.

    The connectors hand every attempt to their recorder (the message log); put in front of it,
    this counts the attempts of all three national systems, wherever the call was made from.
    """

    def __init__(self, metrics: Metrics, inner: ExchangeRecorder) -> None:
        self._metrics = metrics
        self._inner = inner

    async def record(self, exchange: Exchange) -> None:
        """Count ``exchange``, then record it."""
        self._metrics.observe_exchange(exchange)
        await self._inner.record(exchange)


class MetricsRefresh:
    """Refreshes a worker's gauges and counts every ``interval`` seconds (several workers).

    With one process the refresh at scrape time is enough; with several, the worker answering a
    scrape can refresh only its own values, so each keeps its files fresh on its own.
    """

    name = "metrics-refresh"

    def __init__(self, metrics: Metrics, *, interval: float = 5.0) -> None:
        self._metrics = metrics
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start refreshing in the background."""
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._metrics.refresh()
            except Exception as exc:
                log.warning("metrics refresh failed (%s)", type(exc).__name__)


__all__ = [
    "BREAKER_VALUES",
    "MULTIPROCESS_VARIABLE",
    "PROMETHEUS_CONTENT_TYPE",
    "CommitFigures",
    "ExchangeLike",
    "MeteredRecorder",
    "Metrics",
    "MetricsRefresh",
    "UpstreamCall",
    "result_of",
]
