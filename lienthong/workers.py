"""``lienthong serve --workers N``: N adapter processes answering on one port.

The supervisor (the process ``serve`` runs in) does what must happen once — development keys on
first run, migrations — binds the port and starts N worker processes (``spawn``: each imports and
builds its own adapter; they share only the listening socket). The kernel hands a new connection
to whichever worker accepts it first, so a busy worker takes fewer.

* SQLite has one writer at a time: workers on SQLite queue behind each other's log writes
  (measured: p99 126 ms against 25 ms for one worker); the supervisor says so at start. Several
  workers are meant for PostgreSQL.
* Worker 0 also runs what must run once: the sync worker, the records refresh and, in sandbox
  mode, the mock endpoints. It starts first; the others start once it serves.
* Replay protection needs one memory of nonces, else a request replayed to another worker would
  be accepted: the workers share the Redis replay cache when ``LIENTHONG_REPLAY_CACHE_URL`` is
  set (several hosts), otherwise a table in shared memory that the supervisor makes for this run
  (``security.host_replay``; ``replay_table_slots`` sizes it) and removes at exit.
* ``/metrics`` counts for all workers, whichever answers: prometheus_client's multiprocess mode,
  in a fresh folder per run (``PROMETHEUS_MULTIPROC_DIR``, set before the workers start, removed
  at exit).
* A worker that exits while the server runs is started again after a pause (counted in
  ``lienthong_worker_restarts_total{worker}`` on ``/metrics``). One that fails
  ``MAX_QUICK_FAILURES`` times in a row, each within ``STARTUP_GRACE`` seconds of its start, stops
  the server with exit status 1: its configuration is wrong, retrying will not mend it.
* SIGINT / SIGTERM: each worker gets SIGTERM and finishes the requests it holds (uvicorn's
  graceful shutdown); one still running after ``STOP_TIMEOUT`` seconds is killed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from types import FrameType

from adapter_api.metrics import MULTIPROCESS_VARIABLE
from lienthong.settings import Settings
from security.host_replay import HostReplayCache, HostReplayTable

log = logging.getLogger("lienthong.api")

STARTUP_GRACE = 10.0
STARTUP_TIMEOUT = 60.0
MAX_QUICK_FAILURES = 3
RESTART_PAUSE = 1.0
STOP_TIMEOUT = 20.0
#: what a worker exits with when its server did not start (uvicorn's own code for it)
STARTUP_FAILURE = 3


class WorkersError(Exception):
    """The workers cannot run: one of them keeps failing at start."""


def prepare_elsewhere(settings: Settings) -> None:
    """:func:`lienthong.bootstrap.prepare` in a short-lived process, so that the supervisor
    does not carry the adapter's modules; its error is raised here as a :class:`WorkersError`."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        error = pool.apply(_prepare, (settings,))
    if error is not None:
        raise WorkersError(error)


def _prepare(settings: Settings) -> str | None:
    from lienthong.bootstrap import prepare

    try:
        prepare(settings)
    except Exception as exc:
        return str(exc)
    return None


def worker_settings(settings: Settings, index: int) -> Settings:
    """The settings of worker ``index``: only worker 0 runs the background services."""
    if index == 0:
        return settings
    return settings.model_copy(
        update={"sandbox_mocks": False, "run_worker": False, "refresh_interval_seconds": 0.0}
    )


def _worker_main(
    settings: Settings,
    index: int,
    listener: socket.socket,
    log_level: str,
    ready: Event,
    nonces: HostReplayTable | None,
) -> None:
    """A worker process: build the adapter and serve it on ``listener`` (spawn target)."""
    from adapter_api.app import create_app
    from lienthong.bootstrap import build_container
    from lienthong.serve import configure_logging, run_server

    configure_logging(log_level, worker=index)
    with contextlib.suppress(OSError):  # Linux: `ps` and `top` show which worker this is
        Path("/proc/self/comm").write_text(f"lienthong-w{index}")
    try:
        shared = HostReplayCache(nonces) if nonces is not None else None
        app = create_app(build_container(settings, nonces=shared))
    except Exception as exc:
        log.error("worker %d cannot start: %s", index, exc)
        sys.exit(STARTUP_FAILURE)
    started = run_server(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        sockets=[listener],
        on_started=ready.set,
    )
    sys.exit(0 if started else STARTUP_FAILURE)


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    ready: Event
    started_at: float
    quick_failures: int = 0


class Supervisor:
    """Starts, watches and stops the worker processes of one ``serve --workers N``."""

    def __init__(self, settings: Settings, listener: socket.socket, log_level: str) -> None:
        self._settings = settings
        self._listener = listener
        self._log_level = log_level
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._stopping = False
        self._nonces: HostReplayTable | None = None

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; the exit status (0, or 1 when a worker kept failing)."""
        metrics_dir = tempfile.mkdtemp(prefix="lienthong-metrics-")
        os.environ[MULTIPROCESS_VARIABLE] = metrics_dir
        if not self._settings.replay_cache_url:
            self._nonces = HostReplayTable.create(self._settings.replay_table_slots)
        if self._settings.resolved_database_url.startswith("sqlite"):
            log.warning(
                "%d workers on SQLite wait for each other's writes (one writer at a time): "
                "use PostgreSQL (LIENTHONG_DATABASE_URL) for several workers",
                self._settings.workers,
            )
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            for index in range(self._settings.workers):
                worker = self._start(index)
                self._workers.append(worker)
                if index == 0 and not self._serving(worker):
                    if self._stopping:
                        return 0
                    raise WorkersError(f"worker 0 did not start (exit status {_status(worker)})")
            log.info("%d workers started (pid %s)", len(self._workers), self._pids())
            self._watch(metrics_dir)
            return 0
        except WorkersError as exc:
            log.error("%s", exc)
            return 1
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.environ.pop(MULTIPROCESS_VARIABLE, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
            if self._nonces is not None:
                self._nonces.remove()

    def _start(self, index: int) -> _Worker:
        ready = self._context.Event()
        process = self._context.Process(
            target=_worker_main,
            args=(
                worker_settings(self._settings, index),
                index,
                self._listener,
                self._log_level,
                ready,
                self._nonces,
            ),
            name=f"lienthong-worker-{index}",
        )
        process.start()
        return _Worker(index, process, ready, time.monotonic())

    def _serving(self, worker: _Worker) -> bool:
        """Wait until ``worker`` serves (True) or exits (False)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._stopping and time.monotonic() < deadline:
            if worker.ready.wait(0.1):
                return True
            if not worker.process.is_alive():
                return False
        return False

    def _watch(self, metrics_dir: str) -> None:
        # imported once the metrics folder is set: this process's counts join the workers'
        from prometheus_client import Counter, multiprocess

        restarts = Counter(
            "lienthong_worker_restarts",
            "Adapter worker processes started again after they exited",
            ["worker"],
            registry=None,
        )
        while not self._stopping:
            wait([worker.process.sentinel for worker in self._workers], timeout=0.5)
            for position, worker in enumerate(self._workers):
                if self._stopping or worker.process.is_alive():
                    continue
                assert worker.process.pid is not None
                multiprocess.mark_process_dead(worker.process.pid, metrics_dir)  # type: ignore[no-untyped-call]
                self._workers[position] = self._restart(worker)
                restarts.labels(str(worker.index)).inc()

    def _restart(self, worker: _Worker) -> _Worker:
        quick = time.monotonic() - worker.started_at < STARTUP_GRACE
        failures = worker.quick_failures + 1 if quick else 0
        if failures >= MAX_QUICK_FAILURES:
            raise WorkersError(
                f"worker {worker.index} failed {failures} times at start "
                f"(last exit status {_status(worker)}); stopping"
            )
        log.warning(
            "worker %d (pid %s) exited with status %s; starting it again",
            worker.index,
            worker.process.pid,
            _status(worker),
        )
        time.sleep(RESTART_PAUSE)
        restarted = self._start(worker.index)
        restarted.quick_failures = failures
        return restarted

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _stop_all(self) -> None:
        self._stopping = True
        for worker in self._workers:
            if worker.process.is_alive() and worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.warning("worker %d did not stop in %.0f s: killed", worker.index, STOP_TIMEOUT)
                worker.process.kill()
                worker.process.join()

    def _pids(self) -> str:
        return ", ".join(str(worker.process.pid) for worker in self._workers)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _status(worker: _Worker) -> str:
    code = worker.process.exitcode
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return str(code)


__all__ = [
    "MULTIPROCESS_VARIABLE",
    "Supervisor",
    "WorkersError",
    "prepare_elsewhere",
    "worker_settings",
]
