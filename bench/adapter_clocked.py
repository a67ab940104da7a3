"""The adapter with a CPU clock per stage: the same process ``bench/adapter_bench.py`` serves,
with ``time.thread_time`` read around the functions of each stage of a signed lookup.

``bench/floor_server.py`` reads its own thread CPU clock around each operation, so the
integrated floor's stages are exact; a sampler (py-spy) on this loaded 2-core machine is not (it
counts a thread that holds the GIL while it waits for a core, and its samples land on system
calls). This launcher gives the adapter the same clock without a change to its packages: before
the app is built, it replaces the functions of each stage (class attributes, and every module's
name for a module-level function) with wrappers that charge the event loop thread's CPU to the
stage while they run. The stages, named as the integrated floor's clock names them:

* ``rfc9421`` — :class:`security.http_signatures.HttpVerifier` and ``HttpSigner`` (the front
  layer's admission and verify of the request, the sign of the reply);
* ``ws_security`` — ``sign_envelope`` and ``verify_envelope`` where ``connectors.soap`` looks
  them up, and the envelope's copy from its template (the integrated floor counts filling its
  template with its sign);
* ``log_writes`` — loop side: the log's entry points (:data:`LOG_ENTRY_POINTS`: the message
  log's and the access log's ``record``, the ``together()`` block's end, the commit queue's
  task) and all they call (the record's preparation, the chain, the rows queued on the SQLite
  driver transaction, the waiters' release); driver side: the CPU of the process's other
  threads (the aiosqlite driver threads; every thread but the event loop's: the process's CPU
  less the event loop thread's);
* ``answer_reading`` — the population reader (``schemas.wire.population.read_*_response``) and
  the echo check (``echoes_faithfully``, ``request_hash`` as ``connectors.soap`` calls them);
* ``server_loop_client`` — the rest of the event loop thread's CPU: uvicorn, the loop, the HTTP
  client and, unlike the integrated floor's, the adapter's route, middleware and resilience.

With ``LIENTHONG_BENCH_CLOCK_DETAIL=1`` a sixth stage is split off the rest:

* ``route_middleware`` — whatever runs inside the adapter's ASGI app (front layer, route,
  resilience, metrics, the access entry, FastAPI for a path the direct route does not take)
  that no other stage claims: the app's call is wrapped, and so are, as ``server_loop_client``,
  the ``receive`` and ``send`` uvicorn gives it and :meth:`connectors.http_client.ConnectionPool
  .request`. Every resumption of a lookup's task then passes through two or three more wrappers:
  the clock's own cost about doubles (it is printed).

and ``route_middleware`` is split further into its parts (:data:`ROUTE_PARTS`: the front
layer's and the direct route's own steps, the request id, the signature gate's own code, the
two-readings rules, the route's inputs, admission, the purpose check and its store read, the
call context, the log block's start, the metrics, the connector's own code, the request's
build, the transport above the HTTP client, the reply's checks around the signature's and
echo's, resilience, the exchange's record, the access entry, the answer's JSON, the front
layer's sends), each charged like a stage (its functions' own time, outermost only: a part
entered inside itself calls through) and read as ``route_middleware:<part>``; what no part
claims is ``route_middleware:own`` (little but the clock's own steps around the app). Each
part's clock entries are counted (:class:`DetailedStageClock`), so its figure can be stated
less its wrappers' calibrated cost. The garbage collector's time on the event loop's thread is
read beside them (``gc.callbacks``; charged to whatever stage it interrupts).

A wrapper charges only its own time: entering a stage stops the clock of the stage it runs in
(a stack per thread), so nested wrappers never count twice and code no wrapper names counts with
the innermost stage that called it. A coroutine is timed step by step (only while it runs, not
while it waits), so time spent by other tasks during its awaits is not charged to it. Wrappers
are active on the event loop's thread only; elsewhere they call through.

``GET /_bench/clock`` (unsigned, answered before the app) returns the seconds so far as JSON:
each stage's, the event loop thread's CPU, the process's CPU, the wrappers' entries and the
calibrated cost of one (so the clock's own overhead per lookup can be stated).

Run: ``python bench/adapter_clocked.py PORT`` with the adapter's ``LIENTHONG_*`` settings in the
environment (``bench/adapter_bench.py`` starts it so).
"""

from __future__ import annotations

import inspect
import json
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Generator, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLOCK_PATH = "/_bench/clock"
#: the stages a wrapper charges (the rest is the event loop thread's CPU less their sum); the last
#: two only with :data:`DETAIL` (``server_loop_client``'s wrapped part is counted with the rest)
WRAPPED_STAGES = (
    "rfc9421",
    "ws_security",
    "log_writes",
    "answer_reading",
    "route_middleware",
    "server_loop_client",
)
#: with this variable set to 1, ``route_middleware`` is split from ``server_loop_client``
DETAIL = "LIENTHONG_BENCH_CLOCK_DETAIL"
#: every stage of :func:`stages_per_lookup`, in the integrated floor's names and order
STAGES = ("rfc9421", "ws_security", "log_writes", "answer_reading", "server_loop_client")
#: the stages of a detailed clock (:data:`DETAIL`)
DETAIL_STAGES = (*STAGES[:-1], "route_middleware", STAGES[-1])
#: the parts of ``route_middleware`` a detailed clock charges, in a lookup's order: (part, module,
#: class or None for module-level functions, names); only the entry points of each part are
#: wrapped, what they call counts with them (unless another stage or part claims it). ``front``
#: and ``direct_route`` are the layers' own steps between the calls the other parts claim;
#: ``purpose_store`` the purpose's store read on a cache miss (``adapter_api.issues``)
ROUTE_PARTS: tuple[tuple[str, str, str | None, tuple[str, ...]], ...] = (
    ("front", "adapter_api.served", "AdapterApp", ("__call__",)),
    ("front", "adapter_api.front", "Front", ("__call__",)),
    ("request_id", "adapter_api.request_id", None, ("adopt_request_id", "echo_request_id")),
    ("request_id", "adapter_api.routes.context", None, ("request_id_in",)),
    (
        "signature_gate",
        "security.asgi",
        "SignatureGate",
        ("exempt", "admitted", "send_signed", "signed_headers"),
    ),
    ("request_guard", "adapter_api.request_guard", None, ("head_refusal", "reads_body")),
    ("route_inputs", "adapter_api.routes.fast_path", None, ("citizen_lookup_inputs",)),
    ("direct_route", "adapter_api.routes.direct", "DirectCitizenLookup", ("__call__",)),
    ("direct_route", "adapter_api.routes.citizens", None, ("look_up_citizen",)),
    ("admission", "adapter_api.auth", None, ("admitted_client",)),
    ("admission", "adapter_api.rate_limits", None, ("add_rate_limit_fields",)),
    ("purpose", "adapter_api.routes.citizens", None, ("check_issue",)),
    ("purpose_store", "store.dossier_reads", "DossierReads", ("purpose",)),
    ("call_context", "adapter_api.routes.context", None, ("call_context",)),
    ("log_block", "store.logs", "LookupLogs", ("together",)),
    ("log_block", "store.batching.group_commit", "_Together", ("__aenter__",)),
    ("metrics", "adapter_api.metrics", "Metrics", ("observe_request", "upstream_call")),
    ("metrics", "adapter_api.metrics", "Metrics", ("observe_exchange",)),
    ("metrics", "adapter_api.metrics", "UpstreamCall", ("__enter__", "__exit__")),
    ("connector", "connectors.population", "PopulationConnector", ("get_citizen",)),
    ("request_build", "schemas.wire.population", None, ("build_get_citizen_request",)),
    ("request_build", "connectors.soap", "SoapConnector", ("header_for",)),
    ("connector", "connectors.soap", "SoapConnector", ("call", "_attempt")),
    ("transport", "connectors.transport", "_LoopBoundTransport", ("post",)),
    ("reply_checks", "connectors.soap", "SoapConnector", ("_read_verified",)),
    ("resilience", "connectors.resilience", "Resilience", ("call",)),
    ("upstream_record", "connectors.upstream", "UpstreamClient", ("record",)),
    ("access_entry", "adapter_api.access", None, ("access_entry",)),
    ("answer_json", "adapter_api.routes.context", None, ("model_json", "send_json")),
    ("front_send", "adapter_api.front", "_Out", ("__call__",)),
    ("front_send", "security.asgi", "SignedResponse", ("__call__",)),
    ("front_send", "adapter_api.front", "_SignedAppSend", ("send_whole",)),
)
#: with :data:`DETAIL`, only the parts this variable names (comma-separated) are wrapped: fewer
#: wrappers, less of the clock's own cost in the parts measured (all of them when unset)
DETAIL_PARTS = "LIENTHONG_BENCH_CLOCK_PARTS"
#: the prefix of a part's figure in :func:`stages_per_lookup` (``route_middleware:purpose``)
PART_PREFIX = "route_middleware:"
#: (module, class, methods) through which the event loop's thread enters the log's code on a
#: lookup: the records handed to the group commit, the ``together()`` block's end (it waits for
#: the commit, then releases its records' waiters) and the commit queue's task (the batch, its
#: SQL queued for the driver thread, the chain); the group commit's inner calls count with the
#: record that makes them. The block's start (a context variable set, ≈ 1 µs) is left to the
#: route that opens it: a wrapper would cost about as much (:func:`calibrate`)
LOG_ENTRY_POINTS = (
    ("store.message_log.writer", "SqlMessageLog", ("record", "append")),
    ("store.logs", "AccessLogWriter", ("record",)),
    ("store.batching.group_commit", "_Together", ("__aexit__",)),
    ("store.batching.commit_queue", "CommitQueue", ("_drain",)),
)


class StageClock:
    """Thread CPU seconds per stage on one thread (the event loop's), charged exclusively."""

    def __init__(self, now: Callable[[], float] = time.thread_time) -> None:
        self.now = now
        self.seconds = dict.fromkeys(WRAPPED_STAGES, 0.0)
        self.entries = 0
        self.coroutines = 0
        #: entries per part of ``route_middleware`` (:meth:`wrap` with ``outermost``)
        self.part_entries: dict[str, int] = {}
        self.thread = threading.get_ident()
        self._stack: list[str] = []
        self._since = 0.0

    def enter(self, stage: str) -> None:
        now = self.now()
        if self._stack:
            top = self._stack[-1]
            self.seconds[top] += now - self._since
        self._stack.append(stage)
        self._since = now
        self.entries += 1

    def leave(self) -> None:
        now = self.now()
        stage = self._stack.pop()
        self.seconds[stage] += now - self._since
        self._since = now

    def wrap(
        self, function: Callable[..., Any], stage: str, *, outermost: bool = False
    ) -> Callable[..., Any]:
        """``function`` charging its own CPU to ``stage`` (a coroutine function stays one);
        ``outermost``: a new stage (a part), counted in :attr:`part_entries`, whose wrapper
        calls through when ``stage`` is already the running one (nested in itself)."""
        clock = self
        if outermost:
            self.seconds.setdefault(stage, 0.0)
            self.part_entries.setdefault(stage, 0)
            return _named(_outermost(clock, function, stage), function)
        if inspect.iscoroutinefunction(function):

            async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
                coroutine = function(*args, **kwargs)
                if threading.get_ident() != clock.thread:
                    return await coroutine
                clock.coroutines += 1
                return await _Stepped(coroutine, clock, stage)

            wrapper: Callable[..., Any] = timed_coroutine
        else:

            def timed(*args: Any, **kwargs: Any) -> Any:
                if threading.get_ident() != clock.thread:
                    return function(*args, **kwargs)
                clock.enter(stage)
                try:
                    return function(*args, **kwargs)
                finally:
                    clock.leave()

            wrapper = timed
        return _named(wrapper, function)


def _named(wrapper: Callable[..., Any], function: Callable[..., Any]) -> Callable[..., Any]:
    wrapper.__name__ = getattr(function, "__name__", "wrapped")
    wrapper.__qualname__ = getattr(function, "__qualname__", wrapper.__name__)
    wrapper.__doc__ = function.__doc__
    wrapper.__wrapped__ = function  # type: ignore[attr-defined]
    return wrapper


def _outermost(clock: StageClock, function: Callable[..., Any], stage: str) -> Callable[..., Any]:
    """The wrapper of :meth:`StageClock.wrap` for a part: charged as a stage, except inside
    itself (a part's entry point called by another of its entry points counts with the outer)."""
    stack = clock._stack
    counts = clock.part_entries
    if inspect.iscoroutinefunction(function):

        async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
            coroutine = function(*args, **kwargs)
            if threading.get_ident() != clock.thread or (stack and stack[-1] == stage):
                return await coroutine
            clock.coroutines += 1
            counts[stage] += 1
            return await _Stepped(coroutine, clock, stage)

        return timed_coroutine

    def timed(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != clock.thread or (stack and stack[-1] == stage):
            return function(*args, **kwargs)
        counts[stage] += 1
        clock.enter(stage)
        try:
            return function(*args, **kwargs)
        finally:
            clock.leave()

    return timed


class DetailedStageClock(StageClock):
    """A :class:`StageClock` that also counts its entries per stage (:attr:`stage_entries`),
    for a detailed clock only: the plain clock's entry stays as cheap as it was."""

    def __init__(self, now: Callable[[], float] = time.thread_time) -> None:
        super().__init__(now)
        self.stage_entries = dict.fromkeys(WRAPPED_STAGES, 0)

    def enter(self, stage: str) -> None:
        super().enter(stage)
        entries = self.stage_entries
        entries[stage] = entries.get(stage, 0) + 1


class _Stepped:
    """Await ``coroutine`` with the clock on ``stage`` during each of its steps only."""

    __slots__ = ("clock", "coroutine", "stage")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], clock: StageClock, stage: str) -> None:
        self.coroutine = coroutine
        self.clock = clock
        self.stage = stage

    def __await__(self) -> Generator[Any, Any, Any]:
        clock, stage, coroutine = self.clock, self.stage, self.coroutine
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            clock.enter(stage)
            try:
                yielded = coroutine.send(sent) if thrown is None else coroutine.throw(thrown)
            except StopIteration as done:
                return done.value
            finally:
                clock.leave()
            try:
                sent, thrown = (yield yielded), None
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # handed on into the coroutine (a cancellation)
                sent, thrown = None, exc


# ------------------------------------------------------------------------------ what is wrapped


def _functions_of(owner: type) -> Iterable[tuple[str, Callable[..., Any]]]:
    """The plain and coroutine functions ``owner`` defines itself (no generators)."""
    for name, value in list(vars(owner).items()):
        if not inspect.isfunction(value):
            continue
        if inspect.isgeneratorfunction(value) or inspect.isasyncgenfunction(value):
            continue
        yield name, value


def install(clock: StageClock) -> dict[Callable[..., Any], Callable[..., Any]]:
    """Wrap each stage's functions; the originals mapped to their wrappers (module-level ones
    are also replaced wherever another module imported them by name: :func:`rebind`)."""
    import importlib

    import connectors.echo
    import connectors.soap
    import schemas.wire.population
    import security.http_signatures.sign
    import security.http_signatures.verify
    import security.wsse

    replaced: dict[Callable[..., Any], Callable[..., Any]] = {}

    def method(owner: type, name: str, stage: str) -> None:
        original = vars(owner)[name]
        wrapper = clock.wrap(original, stage)
        setattr(owner, name, wrapper)
        replaced[original] = wrapper

    def function(module: ModuleType, name: str, stage: str) -> None:
        original = getattr(module, name)
        wrapper = replaced.get(original) or clock.wrap(original, stage)
        setattr(module, name, wrapper)
        replaced[original] = wrapper

    signers: tuple[type, ...] = (
        security.http_signatures.verify.HttpVerifier,
        security.http_signatures.sign.HttpSigner,
    )
    for owner in signers:
        for name, _ in _functions_of(owner):
            if not name.startswith("_"):  # the entry points; what they call counts with them
                method(owner, name, "rfc9421")
    for name in ("sign_envelope", "verify_envelope"):
        function(security.wsse, name, "ws_security")
    method(connectors.soap.SoapConnector, "envelope", "ws_security")
    for name in ("read_get_citizen_response", "read_verify_citizen_response"):
        function(schemas.wire.population, name, "answer_reading")
    function(connectors.echo, "echoes_faithfully", "answer_reading")
    function(connectors.soap, "request_hash", "answer_reading")
    # the log's entry points only (what they call counts with them): the writers' record, the
    # together() block, and the commit queue's task (the batch, its SQL, the waiters' release)
    for module_name, owner_name, names in LOG_ENTRY_POINTS:
        owner = getattr(importlib.import_module(module_name), owner_name)
        for name in names:
            method(owner, name, "log_writes")
    rebind(replaced)
    return replaced


def install_parts(
    clock: StageClock, only: frozenset[str] | None = None
) -> dict[Callable[..., Any], Callable[..., Any]]:
    """Wrap the entry points of each part of ``route_middleware`` (:data:`ROUTE_PARTS`; those in
    ``only`` when given) as an outermost-only stage of its own; the originals mapped to their
    wrappers (for :func:`rebind`). Call it after :func:`install`."""
    import importlib

    known = {part for part, *_ in ROUTE_PARTS}
    if only is not None and not only <= known:
        raise ValueError(f"no such parts: {', '.join(sorted(only - known))}")
    replaced: dict[Callable[..., Any], Callable[..., Any]] = {}
    for part, module_name, owner_name, names in ROUTE_PARTS:
        if only is not None and part not in only:
            continue
        module = importlib.import_module(module_name)
        owner: Any = module if owner_name is None else getattr(module, owner_name)
        for name in names:
            original = vars(owner)[name] if owner_name is not None else getattr(module, name)
            if hasattr(original, "__wrapped__"):
                raise RuntimeError(f"{module_name}.{owner_name or ''}.{name}: wrapped twice")
            wrapper = clock.wrap(original, part, outermost=True)
            setattr(owner, name, wrapper)
            replaced[original] = wrapper
    return replaced


class GcClock:
    """The garbage collector's thread CPU on one thread, and its collections per generation
    (``gc.callbacks``)."""

    def __init__(self, thread: int, now: Callable[[], float] = time.thread_time) -> None:
        self.thread = thread
        self.now = now
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self.collected = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != self.thread:
            return
        if phase == "start":
            self._started = self.now()
            return
        self.seconds += self.now() - self._started
        self.collections[info["generation"]] += 1
        self.collected += info["collected"]

    def readings(self) -> dict[str, Any]:
        """Seconds, collections per generation and objects collected so far."""
        return {
            "seconds": self.seconds,
            "collections": list(self.collections),
            "collected": self.collected,
        }


def rebind(replaced: dict[Callable[..., Any], Callable[..., Any]]) -> int:
    """Replace, in every loaded module, a name bound to an original by its wrapper (a module that
    did ``from x import f``); the number of names replaced."""
    count = 0
    for module in list(sys.modules.values()):
        names = getattr(module, "__dict__", None)
        if not isinstance(names, dict):
            continue
        for name, value in list(names.items()):
            if inspect.isfunction(value) and value in replaced:
                names[name] = replaced[value]
                count += 1
    return count


def calibrate(clock: StageClock, calls: int = 20000) -> tuple[float, float, float]:
    """Thread CPU seconds one wrapper entry adds (a wrapped no-op against a bare one), what a
    wrapped coroutine's call adds beyond its one step's entry, and one entry of a part's
    (outermost-only) wrapper; on a clock of its own, so that ``clock``'s counts are not
    touched."""
    import asyncio

    probe = type(clock)()
    probe.thread = clock.thread

    def nothing() -> None:
        return None

    async def nothing_awaited() -> None:
        return None

    wrapped = probe.wrap(nothing, "rfc9421")
    awaited = probe.wrap(nothing_awaited, "rfc9421")
    part = probe.wrap(nothing, "probe", outermost=True)

    def extra(bare: Callable[[], Any], timed: Callable[[], Any]) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.thread_time()
            bare()
            spent = time.thread_time() - started
            started = time.thread_time()
            timed()
            best = min(best, (time.thread_time() - started - spent) / calls)
        return max(best, 0.0)

    def call(function: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(calls):
                function()

        return run

    def run_awaited(function: Callable[[], Any]) -> Callable[[], None]:
        async def loop() -> None:
            for _ in range(calls):
                await function()

        return lambda: asyncio.run(loop())

    entry = extra(call(nothing), call(wrapped))
    coroutine = extra(run_awaited(nothing_awaited), run_awaited(awaited))
    return entry, max(coroutine - entry, 0.0), extra(call(nothing), call(part))


# ------------------------------------------------------------------------------ serving


class ClockedApp:
    """The adapter's ASGI app, with ``GET /_bench/clock`` answered before it."""

    def __init__(
        self,
        app: Any,
        clock: StageClock,
        costs: tuple[float, float, float],
        *,
        detail: bool = False,
        gc_clock: GcClock | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        self.entry_cost, self.coroutine_cost, self.part_entry_cost = costs
        self.detail = detail
        self.gc_clock = gc_clock

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == CLOCK_PATH:
            body = json.dumps(self.readings()).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if not self.detail:
            await self.app(scope, receive, send)
            return
        clock = self.clock

        async def timed_receive() -> Any:
            clock.coroutines += 1
            return await _Stepped(receive(), clock, "server_loop_client")

        async def timed_send(message: Any) -> None:
            clock.coroutines += 1
            await _Stepped(send(message), clock, "server_loop_client")

        clock.coroutines += 1
        await _Stepped(self.app(scope, timed_receive, timed_send), clock, "route_middleware")

    def readings(self) -> dict[str, Any]:
        """Seconds so far: each wrapped stage's, the event loop thread's, the process's."""
        return {
            "stages": dict(self.clock.seconds),
            "detail": self.detail,
            "event_loop_seconds": time.thread_time(),
            "process_seconds": time.process_time(),
            "entries": self.clock.entries,
            "coroutines": self.clock.coroutines,
            "entry_cost_seconds": self.entry_cost,
            "coroutine_cost_seconds": self.coroutine_cost,
            **(
                {
                    "part_entries": dict(self.clock.part_entries),
                    "stage_entries": dict(getattr(self.clock, "stage_entries", {})),
                    "part_entry_cost_seconds": self.part_entry_cost,
                }
                if self.detail
                else {}
            ),
            **({"gc": self.gc_clock.readings()} if self.gc_clock is not None else {}),
        }


def stages_per_lookup(
    before: dict[str, Any], after: dict[str, Any], lookups: int
) -> dict[str, float]:
    """ms per lookup of each stage between two readings of ``/_bench/clock``: the wrapped stages,
    the driver threads' CPU added to ``log_writes``, the rest of the event loop's thread as
    ``server_loop_client`` (``route_middleware`` only from a detailed clock); and
    ``log_writes_loop``, ``log_writes_driver``, ``process``, ``clock_overhead`` beside them (not
    stages: the first two split ``log_writes``). From a detailed clock, also each part of
    ``route_middleware`` (``route_middleware:<part>``, ``route_middleware:own`` for what no part
    claims: together they are ``route_middleware``), each part's calls per lookup
    (``calls:<part>``) and, with a garbage collector clock, ``gc`` (ms per lookup, charged to
    the stages it interrupted) and ``gc_collections`` (per lookup)."""

    def spent(key: str) -> float:
        return float(after[key] - before[key]) / lookups * 1000

    def per_lookup(stage: str) -> float:
        return float(after["stages"][stage] - before["stages"].get(stage, 0.0)) / lookups * 1000

    stages = {stage: per_lookup(stage) for stage in WRAPPED_STAGES}
    parts = {part: per_lookup(part) for part in after["stages"] if part not in WRAPPED_STAGES}
    loop, process = spent("event_loop_seconds"), spent("process_seconds")
    driver = process - loop
    loop_side = stages["log_writes"]
    claimed = sum(spent_ms for stage, spent_ms in stages.items() if stage != "server_loop_client")
    claimed += sum(parts.values())
    stages["server_loop_client"] = loop - claimed  # its wrapped part and the rest
    stages["log_writes"] = loop_side + driver
    if not after.get("detail"):
        del stages["route_middleware"]
    overhead = (
        spent("entries") * after["entry_cost_seconds"]
        + spent("coroutines") * after["coroutine_cost_seconds"]
    )
    figures = {
        **stages,
        "log_writes_loop": loop_side,
        "log_writes_driver": driver,
        "process": process,
        "clock_overhead": overhead,
    }
    if parts:
        own = stages["route_middleware"]
        figures["route_middleware"] = own + sum(parts.values())
        figures.update({PART_PREFIX + part: spent_ms for part, spent_ms in parts.items()})
        figures[PART_PREFIX + "own"] = own
        calls_before, calls_after = before.get("part_entries", {}), after["part_entries"]
        figures.update(
            {
                f"calls:{part}": (calls_after[part] - calls_before.get(part, 0)) / lookups
                for part in parts
            }
        )
        entries_before, entries_after = before.get("stage_entries", {}), after["stage_entries"]
        figures.update(
            {
                f"entries:{stage}": (entries_after[stage] - entries_before.get(stage, 0)) / lookups
                for stage in entries_after
            }
        )
        figures["entry_cost_us"] = after["entry_cost_seconds"] * 1e6
        part_calls = sum(calls_after.values()) - sum(calls_before.values())
        extra = after["part_entry_cost_seconds"] - after["entry_cost_seconds"]
        figures["clock_overhead"] += part_calls / lookups * 1000 * max(extra, 0.0)
    if "gc" in after and "gc" in before:
        figures["gc"] = (after["gc"]["seconds"] - before["gc"]["seconds"]) / lookups * 1000
        collections = sum(after["gc"]["collections"]) - sum(before["gc"]["collections"])
        figures["gc_collections"] = collections / lookups
        figures["gc_generation2"] = (
            after["gc"]["collections"][2] - before["gc"]["collections"][2]
        ) / lookups
    return figures


def serve(port: int) -> None:
    """The adapter on 127.0.0.1:port as ``adapter_bench.serve_adapter`` serves it, clocked."""
    import os

    detail = os.environ.get(DETAIL) == "1"
    clock = DetailedStageClock() if detail else StageClock()
    costs = calibrate(clock)
    replaced = install(clock)
    gc_clock = None
    if detail:  # the client's own work is the server's, loop's and client's stage
        import gc

        from connectors.http_client import ConnectionPool

        ConnectionPool.request = clock.wrap(  # type: ignore[method-assign]
            ConnectionPool.request, "server_loop_client"
        )
        chosen = os.environ.get(DETAIL_PARTS, "").strip()
        only = frozenset(name.strip() for name in chosen.split(",")) if chosen else None
        replaced.update(install_parts(clock, only))
        rebind(replaced)
        gc_clock = GcClock(clock.thread)
        gc.callbacks.append(gc_clock)

    from adapter_api.app import create_app
    from lienthong.bootstrap import build_container, prepare
    from lienthong.serve import run_server
    from lienthong.settings import Settings

    settings = Settings(port=port)
    prepare(settings)
    app = create_app(build_container(settings))
    rebind(replaced)  # the modules the app imported while it was built
    run_server(
        ClockedApp(app, clock, costs, detail=detail, gc_clock=gc_clock),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.rsplit("Run: ", 1)[1].split("(")[0].strip())
    serve(int(sys.argv[1]))

__all__ = [
    "CLOCK_PATH",
    "DETAIL",
    "DETAIL_PARTS",
    "DETAIL_STAGES",
    "PART_PREFIX",
    "ROUTE_PARTS",
    "STAGES",
    "ClockedApp",
    "DetailedStageClock",
    "GcClock",
    "StageClock",
    "install",
    "install_parts",
    "serve",
    "stages_per_lookup",
]
