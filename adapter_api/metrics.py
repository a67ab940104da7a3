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
import math
import os
import threading
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
from prometheus_client.values import MutexValue
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


class _SharedTally:
    """One labelled counter and one labelled histogram, counted and timed together, in
    multiprocess mode: every value written to its file as it changes (the other workers'
    ``/metrics`` read them there).

    Written straight to the children's values (``prometheus_client``'s ``MmapedValue``): what
    ``Counter.inc()`` and ``Histogram.observe()`` do for a child, without their checks that a
    labelled child passes anyway (observable, a non-negative increment, no exemplar) and with
    the bucket found by bisection rather than by a loop over the bounds. The samples are the
    same (``tests/unit/test_api_metrics_tally.py``).
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


class _Tally:
    """One labelled counter and one labelled histogram, counted and timed together, in one
    process: plain numbers in lists, which the registry reads when ``/metrics`` is scraped.

    The children's values (``prometheus_client``'s ``MutexValue``: a float and a lock each) are
    replaced by :class:`_TallyValue` views of a list per child (:func:`_counter_numbers`,
    :func:`_histogram_numbers`; a histogram child timed by several tallies, one per status or
    result, keeps one list), under one lock per :class:`Metrics`: :meth:`add` changes three
    numbers under that lock, with no call per value; the children's own ``inc()``,
    ``observe()``, ``set()`` and the scrape's ``get()`` go through the views, under the same
    lock. The numbers add as the values added (floats, in the same order): the samples are the
    same (``tests/unit/test_api_metrics_tally.py``). In multiprocess mode every value must reach
    its file as it changes: :class:`_SharedTally` (see :func:`_tally`).

    A tally is made on the first observation of its labels; a child's own call made from
    another thread at that very moment could go to the value being replaced (nothing here
    calls the children's own methods: they count through their tallies).
    """

    __slots__ = ("_bounds", "_counted", "_lock", "_timed")

    def __init__(self, counter: Any, histogram: Any, lock: threading.Lock) -> None:
        self._bounds: list[float] = list(histogram._upper_bounds)
        self._lock = lock
        #: the counter's number
        self._counted = _counter_numbers(counter, lock)
        #: the histogram's: its buckets' counts (one per bound), then its sum
        self._timed = _histogram_numbers(histogram, lock)

    def add(self, seconds: float) -> None:
        """Count one, and time it ``seconds`` (the first bucket whose bound is not below it)."""
        bounds = self._bounds
        index = bisect_left(bounds, seconds)
        timed = self._timed
        with self._lock:
            self._counted[0] += 1
            timed[-1] += seconds
            # the last bound is +Inf (see _tally), so index is a bucket's; NaN fits no bucket
            if seconds <= bounds[index]:
                timed[index] += 1


class _TallyValue:
    """One number of a child counted by a :class:`_Tally`, as the child's value: the
    ``MutexValue`` interface (``inc``, ``set``, ``get`` and the exemplar's), under the lock of
    the tallies."""

    __slots__ = ("_exemplar", "_index", "lock", "numbers")

    def __init__(
        self, numbers: list[float], index: int, lock: threading.Lock, exemplar: Any
    ) -> None:
        #: the child's numbers, this one at ``index``
        self.numbers = numbers
        self._index = index
        #: the lock of the tallies that change them
        self.lock = lock
        self._exemplar = exemplar

    def inc(self, amount: float) -> None:
        with self.lock:
            self.numbers[self._index] += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        with self.lock:
            self.numbers[self._index] = value

    def set_exemplar(self, exemplar: Any) -> None:
        with self.lock:
            self._exemplar = exemplar

    def get(self) -> float:
        with self.lock:
            return self.numbers[self._index]

    def get_exemplar(self) -> Any:
        with self.lock:
            return self._exemplar


def _counter_numbers(counter: Any, lock: threading.Lock) -> list[float]:
    """The list of a counter child's number, its value replaced by a view of it (once)."""
    value = counter._value
    if type(value) is _TallyValue:
        return value.numbers
    numbers = [value.get()]
    counter._value = _TallyValue(numbers, 0, lock, value.get_exemplar())
    return numbers


def _histogram_numbers(histogram: Any, lock: threading.Lock) -> list[float]:
    """The list of a histogram child's numbers (its buckets', then its sum), its values
    replaced by views of it (once: the tallies of the child's other counters share it)."""
    if type(histogram._sum) is _TallyValue:
        return histogram._sum.numbers
    values = [*histogram._buckets, histogram._sum]
    numbers = [value.get() for value in values]
    views = [
        _TallyValue(numbers, at, lock, value.get_exemplar()) for at, value in enumerate(values)
    ]
    histogram._buckets = views[:-1]
    histogram._sum = views[-1]
    return numbers


def _tally(counter: Any, histogram: Any, lock: threading.Lock) -> _Tally | _SharedTally:
    """The tally of ``counter``'s and ``histogram``'s children: plain numbers under ``lock``
    when their values are one process's (``MutexValue``, or views made under ``lock``) and the
    last bound is +Inf (as ``Histogram`` makes it), else (multiprocess mode's files) written
    through."""
    if histogram._upper_bounds[-1] != math.inf:
        return _SharedTally(counter, histogram)
    for value in (counter._value, histogram._sum, *histogram._buckets):
        if type(value) is not MutexValue and not (
            type(value) is _TallyValue and value.lock is lock
        ):
            return _SharedTally(counter, histogram)
    return _Tally(counter, histogram, lock)


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
        #: the lock of the tallies' numbers (:class:`_Tally`)
        self._tally_lock = threading.Lock()
        self._upstream_tallies: dict[tuple[str, str, str], _Tally | _SharedTally] = {}
        self._request_tallies: dict[tuple[str, str, int], _Tally | _SharedTally] = {}
        self._exchange_tallies: dict[tuple[str, str, str], _Tally | _SharedTally] = {}

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
            tally = self._exchange_tallies[key] = _tally(
                self.upstream_exchanges.labels(*key),
                self.upstream_exchange_seconds.labels(key[0], key[1]),
                self._tally_lock,
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
        method = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        key = (template, method, status)
        tally = self._request_tallies.get(key)
        if tally is None:
            tally = self._request_tallies[key] = _tally(
                self.requests.labels(template, method, str(status)),
                self.request_seconds.labels(template),
                self._tally_lock,
            )
        tally.add(seconds)

    def upstream_call(self, upstream: str, operation: str) -> UpstreamCall:
        """Count and time one upstream call made inside the ``with`` block."""
        return UpstreamCall(self, upstream, operation)

    def observe_upstream_call(
        self, upstream: str, operation: str, error: BaseException | None, seconds: float
    ) -> None:
        """Count and time one upstream call that took ``seconds`` and raised ``error``."""
        key = (upstream, operation, "ok" if error is None else result_of(error))
        tally = self._upstream_tallies.get(key)
        if tally is None:
            tally = self._upstream_tallies[key] = _tally(
                self.upstream_calls.labels(*key),
                self.upstream_seconds.labels(upstream, operation),
                self._tally_lock,
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
