"""Dossier sync: events per second from acceptance to the portal's acknowledgement, and how the
outbox claim and the feed behave at 10 k and 1 M rows — on SQLite and on PostgreSQL.

Run: ``.venv/bin/python bench/sync_bench.py`` (PostgreSQL too when LIENTHONG_TEST_PG_DSN is set;
``BENCH_SIZES=10000,1000000``, ``BENCH_DOSSIERS``, ``BENCH_EVENTS`` change the sizes).

1. Throughput. The portal mock (``lienthong mock serve``) and the worker (``lienthong sync run``)
   run as their own processes; this process accepts events — ``store.dossiers.record_event``, one
   transaction each with its outbox item, 16 at a time — as the API does after checking the
   request. The clock runs from the first acceptance to the last acknowledgement (the outbox says
   delivered only after the portal acknowledged). Then every dossier is read back from the mock:
   steps missing (lost) and steps applied more than once must both be 0.
2. Claim and feed. ``outbox`` and ``dossiers`` are bulk-loaded with N rows (95 % delivered, 5 %
   pending), then ``SqlOutbox.claim`` (100 dossiers) and a feed page (100 dossiers, one sector and
   all sectors, from a cursor deep in the table) are timed. Their ratio between 1 M and 10 k rows
   shows whether they grow with the table (1.0 = not at all).

Writes bench/results/sync.json.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from schemas.models import DossierEvent  # noqa: E402
from schemas.status import DossierStatus  # noqa: E402
from security.pki import init_dev_pki  # noqa: E402
from store.db import (  # noqa: E402
    create_engine,
    create_sessionmaker,
    normalize_url,
    reader,
    upgrade_async,
)
from store.dossiers import record_dossier, record_event  # noqa: E402
from store.feed import encode_cursor, feed  # noqa: E402
from store.outbox import Outcome, SqlOutbox  # noqa: E402
from sync.connect import PortalOptions, build_portal  # noqa: E402
from sync.worker import SyncWorker, WorkerSettings  # noqa: E402
from tests.support.servers import free_port  # noqa: E402
from tests.support.stores import LIFECYCLE, make_dossier, make_event  # noqa: E402

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "10000,1000000").split(",")]
DOSSIERS = int(os.environ.get("BENCH_DOSSIERS", "500"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "6"))
PRODUCERS = 16
BACKLOG_STEPS = 4
RESULTS = ROOT / "bench" / "results" / "sync.json"


# ------------------------------------------------------------------------------ processes


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "adapter_api.cli", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    total += _cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


def _wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# ------------------------------------------------------------------------------ throughput


async def _accept(engine: AsyncEngine, events: list[DossierEvent]) -> None:
    """Record events, PRODUCERS at a time, each dossier's steps in order."""
    sessions = create_sessionmaker(engine)
    by_dossier: dict[str, list[DossierEvent]] = {}
    for event in events:
        by_dossier.setdefault(event.dossier_code, []).append(event)
    queue: asyncio.Queue[list[DossierEvent]] = asyncio.Queue()
    for steps in by_dossier.values():
        queue.put_nowait(steps)

    async def producer() -> None:
        while not queue.empty():
            steps = queue.get_nowait()
            for event in steps:
                async with sessions() as session, session.begin():
                    await record_event(session, event)

    await asyncio.gather(*(producer() for _ in range(PRODUCERS)))


async def _drained(engine: AsyncEngine, seconds: float = 600) -> None:
    outbox = SqlOutbox(engine)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stats = await outbox.stats()
        if stats.pending == 0:
            return
        await asyncio.sleep(0.02)
    raise RuntimeError("the worker did not drain the outbox")


async def _latencies(engine: AsyncEngine) -> dict[str, float]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT created_at, delivered_at FROM outbox "
                "WHERE kind = 'push_progress' AND state = 'delivered'"
            )
        )
        waits = []
        for created, delivered in rows:
            if isinstance(created, str):
                created, delivered = (dt.datetime.fromisoformat(v) for v in (created, delivered))
            waits.append((delivered - created).total_seconds() * 1000)
    waits.sort()
    return {
        "p50_ms": round(statistics.median(waits), 1),
        "p99_ms": round(waits[int(len(waits) * 0.99) - 1], 1),
    }


def _check_portal(base_url: str, codes: list[str], events: int) -> dict[str, int]:
    lost = twice = 0
    with httpx.Client(base_url=base_url, timeout=30) as admin:
        for code in codes:
            held = admin.get(f"/_admin/portal/dossiers/{code}")
            if held.status_code == 404:
                lost += events
                continue
            progress = held.json()["progress"]
            keys = [step["IdempotencyKey"] for step in progress]
            twice += len(keys) - len(set(keys))
            lost += len({f"{code}#{n}" for n in range(1, events + 1)} - set(keys))
    return {"lost": lost, "applied_twice": twice}


class _InProcessWorker:
    """The worker inside this process, as ``lienthong serve`` runs it (one SQLite writer)."""

    def __init__(
        self, engine: AsyncEngine, portal_url: str, keys: Path, *, start: bool = True
    ) -> None:
        self.connector = build_portal(PortalOptions(url=portal_url, keys_dir=keys))
        self.worker = SyncWorker(
            SqlOutbox(engine), self.connector, settings=WorkerSettings(concurrency=2)
        )
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.worker.run(self.stop)) if start else None
        self.pid = os.getpid()

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task
        await self.connector.aclose()


async def throughput(url: str, keys: Path, work: Path, *, in_process: bool) -> dict[str, Any]:
    """Events/s from acceptance to acknowledgement through the worker and the portal mock."""
    port = free_port()
    mock = _spawn(
        ["mock", "serve", "--port", str(port), "--keys", str(keys), "--citizens", "5"],
        work / "mock.log",
    )
    worker: Any = None
    engine = create_engine(url)
    try:
        _wait_http(f"http://127.0.0.1:{port}/_admin")
        sessions = create_sessionmaker(engine)
        dossiers = [make_dossier(n) for n in range(1, DOSSIERS + 1)]
        started = time.perf_counter()
        for dossier in dossiers:
            async with sessions() as session, session.begin():
                await record_dossier(session, dossier)
        portal_url = f"http://127.0.0.1:{port}/portal"
        worker_args = [
            "sync", "run", "--database-url", url, "--keys", str(keys),
            "--portal-url", portal_url, "--no-message-log", "--batch", "200", "--concurrency", "2",
        ]  # fmt: skip
        if in_process:
            worker = _InProcessWorker(engine, portal_url, keys)
        else:
            worker = _spawn(worker_args, work / "worker.log")
        await _drained(engine)
        registration = time.perf_counter() - started
        events = [
            make_event(n, sequence, status)
            for sequence, status in enumerate(LIFECYCLE[:EVENTS], start=1)
            for n in range(1, DOSSIERS + 1)
        ]
        cpu_before = (
            time.process_time(), _cpu_seconds(worker.pid), _cpu_seconds(mock.pid),
            _postgres_cpu_seconds(),
        )  # fmt: skip
        started = time.perf_counter()
        await _accept(engine, events)
        accepted = time.perf_counter() - started
        await _drained(engine)
        elapsed = time.perf_counter() - started
        cpu_after = (
            time.process_time(), _cpu_seconds(worker.pid), _cpu_seconds(mock.pid),
            _postgres_cpu_seconds(),
        )  # fmt: skip
        cpu_ms_per_event = {
            name: round((after - before) * 1000 / len(events), 3)
            for name, before, after in zip(
                ("accepting", "worker", "portal_mock", "postgresql_server"),
                cpu_before,
                cpu_after,
                strict=True,
            )
        }
        latency = await _latencies(engine)
        delivery_only = None
        if not in_process:  # the worker alone: a backlog accepted while it was stopped
            _stop(worker)
            backlog = [
                make_event(n, sequence, DossierStatus.PROCESSED)  # progress steps, same status
                for sequence in range(EVENTS + 1, EVENTS + 1 + BACKLOG_STEPS)
                for n in range(1, DOSSIERS + 1)
            ]
            await _accept(engine, backlog)
            drainer = _InProcessWorker(engine, portal_url, keys, start=False)
            try:
                started = time.perf_counter()
                await drainer.worker.drain()
                delivery_only = round(len(backlog) / (time.perf_counter() - started), 1)
            finally:
                await drainer.close()
    finally:
        if isinstance(worker, _InProcessWorker):
            await worker.close()
        elif worker is not None:
            _stop(worker)
        await engine.dispose()
    try:
        steps = EVENTS + (BACKLOG_STEPS if delivery_only is not None else 0)
        checked = _check_portal(f"http://127.0.0.1:{port}", [d.code for d in dossiers], steps)
    finally:
        _stop(mock)
    if url.startswith("sqlite"):
        cpu_ms_per_event.pop("postgresql_server")
    if in_process:  # this process's CPU is acceptance and delivery together
        cpu_ms_per_event["worker"] = 0.0
        cpu_ms_per_event["accepting_and_worker"] = cpu_ms_per_event.pop("accepting")
    return {
        "worker": "in this process (as lienthong serve)" if in_process else "own process",
        "dossiers": DOSSIERS,
        "events": len(events),
        "dossiers_registered_and_synced_per_s": round(DOSSIERS / registration, 1),
        "accepted_per_s": round(len(events) / accepted, 1),
        "events_per_s_accept_to_ack": round(len(events) / elapsed, 1),
        "latency_accept_to_ack": latency,
        "backlog_events_per_s_outbox_to_ack": delivery_only,
        "cpu_ms_per_event": cpu_ms_per_event,
        **checked,
    }


# ------------------------------------------------------------------------------ claim and feed

_NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
SECTORS = ("TP", "YT", "GD", "XD", "TN", "LD", "VH", "NN")


def _rows(n: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """dossiers, outbox and heads rows: one item per dossier; the newest 5 % are pending (the
    outbox appends, and deliveries keep up but for a recent backlog)."""
    payload = make_dossier(1).model_dump(mode="json")
    dossiers, items, heads = [], [], []
    for i in range(1, n + 1):
        rest, serial = divmod(i, 9999)
        code = f"000.{rest // 100:02d}.{rest % 100:02d}.H04-261126-{serial + 1:04d}"
        when = _NOW - dt.timedelta(seconds=n - i)
        body = json.dumps({**payload, "code": code})
        sector = SECTORS[i % len(SECTORS)]
        dossiers.append((code, sector, 1, body, 0, True, when, when, i))
        pending = i > n - n // 20
        state = "pending" if pending else "delivered"
        items.append((i, code, "sync_dossier", body, f"{code}@bench", state, 0, when,
                      None if pending else when))  # fmt: skip
        if pending:
            heads.append((code, i, when))
    return dossiers, items, heads


def _load_sqlite(path: Path, n: int) -> None:
    dossiers, items, heads = _rows(n)
    fmt = "%Y-%m-%d %H:%M:%S.%f"

    def t(v: Any) -> Any:
        return v.strftime(fmt) if isinstance(v, dt.datetime) else v

    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO dossiers (code, sector, status, payload, last_sequence, on_portal,"
            " created_at, updated_at, change_seq) VALUES (?,?,?,?,?,?,?,?,?)",
            ([t(v) for v in row] for row in dossiers),
        )
        db.executemany(
            "INSERT INTO outbox (id, dossier_code, kind, payload, idempotency_key, state,"
            " attempts, created_at, delivered_at) VALUES (?,?,?,?,?,?,?,?,?)",
            ([t(v) for v in row] for row in items),
        )
        db.executemany(
            "INSERT INTO outbox_heads (dossier_code, head_id, available_at) VALUES (?,?,?)",
            ([t(v) for v in row] for row in heads),
        )
        db.execute("UPDATE counters SET value = ?", (n,))
        db.execute("ANALYZE")


def _load_postgres(dsn: str, n: int) -> None:
    import io

    import psycopg2

    dossiers, items, heads = _rows(n)

    def copy(cursor: Any, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        buffer = io.StringIO()
        for row in rows:
            buffer.write(
                "\t".join(
                    "\\N" if v is None
                    else (v.isoformat() + "+00:00") if isinstance(v, dt.datetime)
                    else str(v).replace("\\", "\\\\")
                    for v in row
                ) + "\n"
            )  # fmt: skip
        buffer.seek(0)
        cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)

    connection = psycopg2.connect(dsn)
    try:
        with connection, connection.cursor() as cursor:
            copy(cursor, "dossiers", "code, sector, status, payload, last_sequence, on_portal,"
                 " created_at, updated_at, change_seq", dossiers)  # fmt: skip
            copy(cursor, "outbox", "id, dossier_code, kind, payload, idempotency_key, state,"
                 " attempts, created_at, delivered_at", items)  # fmt: skip
            copy(cursor, "outbox_heads", "dossier_code, head_id, available_at", heads)
            cursor.execute("UPDATE counters SET value = %s", (n,))
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('outbox', 'id'), {n})")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")
    finally:
        connection.close()


async def _timed(work: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """Median milliseconds of ``repeat`` runs (after as many to warm up)."""
    for _ in range(repeat):
        await work()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await work()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


async def claim_and_feed(url: str, n: int) -> dict[str, Any]:
    """Median claim, settle and feed-page times with ``n`` rows loaded."""
    engine = create_engine(url)
    outbox = SqlOutbox(engine)
    sessions = create_sessionmaker(reader(engine))

    async def claim_then_release() -> tuple[float, float]:
        started = time.perf_counter()
        claims = await outbox.claim("bench", dossiers_limit=100, lease=dt.timedelta(hours=1))
        claimed = time.perf_counter()
        assert len(claims) == min(100, n // 20)
        await outbox.settle([Outcome(c) for c in claims])  # nothing sent: heads back in line
        return (claimed - started) * 1000, (time.perf_counter() - claimed) * 1000

    # the steady state, not the first touch after loading: claim through the whole backlog once
    for _ in range(min(600, n // 20 // 100)):
        await claim_then_release()
    rounds = [await claim_then_release() for _ in range(20)]

    deep = encode_cursor(n // 2)

    async def page_all() -> None:
        async with sessions() as session:
            page = await feed(session, cursor=deep, limit=100)
            assert len(page.items) == 100

    async def page_two_sectors() -> None:
        async with sessions() as session:
            page = await feed(session, cursor=deep, sectors=["TP", "YT"], limit=100)
            assert len(page.items) == 100

    try:
        result = {
            "claim_100_ms": round(statistics.median(r[0] for r in rounds), 3),
            "settle_100_ms": round(statistics.median(r[1] for r in rounds), 3),
            "feed_page_100_ms": await _timed(page_all, 20),
            "feed_page_100_two_sectors_ms": await _timed(page_two_sectors, 20),
        }
        if engine.dialect.name == "postgresql":
            result |= await _claim_buffers(engine)
    finally:
        await engine.dispose()
    return result


async def _claim_buffers(engine: AsyncEngine) -> dict[str, Any]:
    """PostgreSQL's plan for the claim's two reads and the pages each touches (its real cost)."""
    heads = (
        "SELECT dossier_code FROM outbox_heads WHERE available_at <= now()"
        " ORDER BY available_at LIMIT 100 FOR UPDATE SKIP LOCKED"
    )
    items = (
        "SELECT * FROM (SELECT id, dossier_code, row_number() OVER (PARTITION BY dossier_code"
        " ORDER BY id) AS rank FROM outbox WHERE dossier_code = ANY(:codes)"
        " AND state = 'pending') AS ranked WHERE rank <= 20 ORDER BY dossier_code, id"
    )
    async with engine.begin() as connection:
        codes = [row[0] for row in await connection.execute(text(heads))]
        head_plan = [
            row[0] for row in await connection.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {heads}"))
        ]
        item_plan = [
            row[0]
            for row in await connection.execute(
                text(f"EXPLAIN (ANALYZE, BUFFERS) {items}"), {"codes": codes}
            )
        ]
    return {
        "claim_heads_pages": _pages(head_plan),
        "claim_items_pages": _pages(item_plan),
        "claim_plan": [line.strip() for line in head_plan + item_plan if "Scan" in line],
    }


def _pages(plan: list[str]) -> int:
    """Shared buffers hit + read by the top node of an EXPLAIN (ANALYZE, BUFFERS)."""
    for line in plan:
        if "Buffers:" in line:
            return sum(int(part.split("=")[1]) for part in line.split() if "=" in part)
    return 0


def _fresh_postgres(base: str) -> tuple[str, Callable[[], None]]:
    import psycopg2

    name = f"lienthong_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return base.rsplit("/", 1)[0] + f"/{name}", drop


async def _store(kind: str, keys: Path, work: Path) -> dict[str, Any]:
    base = os.environ.get("LIENTHONG_TEST_PG_DSN", "")
    result: dict[str, Any] = {}

    def fresh(tag: str) -> tuple[str, Callable[[], None]]:
        if kind == "sqlite":
            folder = work / f"{kind}-{tag}"
            return normalize_url(folder), lambda: None
        return _fresh_postgres(base)

    url, drop = fresh("throughput")
    try:
        await upgrade_async(url)
        mode = os.environ.get("BENCH_WORKER", "process")
        result["throughput"] = await throughput(
            normalize_url(url), keys, work, in_process=mode == "inprocess"
        )
        print(kind, "throughput", result["throughput"], flush=True)
    finally:
        drop()
    result["claim_and_feed"] = {}
    for n in SIZES:
        url, drop = fresh(str(n))
        try:
            await upgrade_async(url)
            started = time.perf_counter()
            if kind == "sqlite":
                _load_sqlite(Path(normalize_url(url).split("///", 1)[1]), n)
            else:
                _load_postgres(url, n)
            figures = await claim_and_feed(normalize_url(url), n)
            figures["load_seconds"] = round(time.perf_counter() - started, 1)
            result["claim_and_feed"][str(n)] = figures
            print(kind, n, {k: v for k, v in figures.items() if k != "claim_plan"}, flush=True)
        finally:
            drop()
    small, large = (result["claim_and_feed"][str(n)] for n in (min(SIZES), max(SIZES)))
    result["growth_large_over_small"] = {
        key: round(large[key] / small[key], 2)
        for key in small
        if key.endswith(("_ms", "_pages")) and small[key]
    }
    return result


async def main() -> None:
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "dossiers": DOSSIERS,
        "events_per_dossier": EVENTS,
        "sizes": SIZES,
        "accepted_through": "store.dossiers.record_event (the API's transaction, no HTTP)",
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        keys = work / "keys"
        init_dev_pki(keys)
        kinds = ["sqlite"] + (["postgresql"] if os.environ.get("LIENTHONG_TEST_PG_DSN") else [])
        for kind in kinds:
            results[kind] = await _store(kind, keys, work)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
