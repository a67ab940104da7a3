"""Dossier sync: events per second from API acceptance to the portal's acknowledgement, and how
the outbox claim and the feed behave at 10 k and 1 M rows — on SQLite and on PostgreSQL.

Run: ``.venv/bin/python bench/sync_bench.py`` (PostgreSQL too when LIENTHONG_TEST_PG_DSN is set).
Options: ``--dossiers N --events E --clients C --rounds R`` (load: R rounds of N new dossiers,
E steps each, C requests in flight; the best round is reported, every round's rate listed),
``--worker inprocess|process`` (where the sync worker runs; ``process`` is written as
``throughput_worker_process``), ``--only sqlite|postgresql``, ``--skip-claim-feed`` (keep the
claim and feed figures already in the results file), ``BENCH_SIZES=10000,1000000``.

1. Throughput, the real path, four processes on this machine:

   * the portal mock (the mock endpoints, one uvicorn worker);
   * the adapter (one uvicorn worker, wired as ``lienthong serve --no-sandbox`` wires it: a
     clients file, the store, the message log of every portal exchange), with the sync worker
     inside it as ``serve`` runs it (``--worker inprocess``, the default) or as
     ``lienthong sync run`` in a process of its own (``--worker process``);
   * this process, the clients: ``C`` at a time, each takes the next dossier and posts its ``E``
     steps in order (``POST /v1/dossiers/{code}/events``), every request signed (RFC 9421) as
     ``province-app`` and every answer's signature verified.

   In each round every dossier is first registered (``PUT /v1/dossiers/{code}``) and synced.
   Then the clock runs from the first event posted until the portal mock holds the last one
   (polling its ``/_admin/portal/summary``). Then every dossier the mock holds is compared with
   what the API accepted: steps missing (lost) and steps applied more than once must both be 0
   (``resent``: steps the portal received again and acknowledged as duplicates, not applied).
2. Claim and feed. ``outbox`` and ``dossiers`` are bulk-loaded with N rows (95 % delivered, 5 %
   pending), then ``SqlOutbox.claim`` (100 dossiers) and a feed page (100 dossiers, one sector and
   all sectors, from a cursor deep in the table) are timed. Their ratio between 1 M and 10 k rows
   shows whether they grow with the table (1.0 = not at all).

Writes bench/results/sync.json.
"""

from __future__ import annotations

import argparse
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
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness import cpu_seconds, free_port, start_child  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from security.pki import init_dev_pki  # noqa: E402
from store.db import (  # noqa: E402
    create_engine,
    create_sessionmaker,
    normalize_url,
    reader,
    upgrade_async,
)
from store.feed import encode_cursor, feed  # noqa: E402
from store.outbox import Outcome, SqlOutbox  # noqa: E402
from tests.support.stores import LIFECYCLE, make_dossier  # noqa: E402

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "10000,1000000").split(",")]
RESULTS = ROOT / "bench" / "results" / "sync.json"
GOAL = 1000.0
AGENCY = "000.00.04.H04"


# ------------------------------------------------------------------------------ child processes


def serve_mock(port: int, keys: str) -> None:
    """Child process: the mock endpoints on 127.0.0.1:port (one uvicorn worker)."""
    from lienthong.serve import run_server
    from mock_endpoints.app import create_mock_app
    from mock_endpoints.settings import MockSettings

    app = create_mock_app(MockSettings(keys_dir=Path(keys), citizens=5, businesses=5))
    run_server(app, host="127.0.0.1", port=port, log_level="warning")


def serve_adapter(
    port: int, keys: str, data: str, mock_url: str, database_url: str, worker: str
) -> None:
    """Child process: the adapter as ``lienthong serve --no-sandbox`` wires it."""
    from adapter_api.app import create_app
    from lienthong.bootstrap import build_container, prepare
    from lienthong.serve import run_server
    from lienthong.settings import Settings

    clients = Path(data) / "clients.toml"
    clients.write_text(
        f'[[clients]]\nid = "province-app"\nrole = "province"\n'
        f'certificate = "{keys}/province-app/cert.pem"\n',
        encoding="utf-8",
    )
    settings = Settings(
        sandbox=False,
        port=port,
        keys_dir=Path(keys),
        data_dir=Path(data),
        database_url=database_url,
        clients_file=clients,
        population_url=f"{mock_url}/population/soap",
        registry_url=f"{mock_url}/registry",
        portal_url=f"{mock_url}/portal",
        run_worker=worker == "inprocess",
        refresh_interval_seconds=0,
    )
    prepare(settings)
    app = create_app(build_container(settings))
    profile = os.environ.get("BENCH_PROFILE")
    if profile:  # where the adapter's CPU goes: cProfile of the event loop's thread
        import cProfile

        import uvicorn

        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        server.capture_signals = lambda: _nullcontext()  # type: ignore[method-assign]
        signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
        with cProfile.Profile() as profiler:
            server.run()
        profiler.dump_stats(profile)
        return
    run_server(app, host="127.0.0.1", port=port, log_level="warning")


def _nullcontext() -> Any:
    import contextlib

    return contextlib.nullcontext()


def _start(args: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return start_child(__file__, args, port, stderr=log.open("wb"))


def _spawn_cli(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lienthong.cli", *args],
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
            process.wait()


def _postgres_cpu_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    total += cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


# ------------------------------------------------------------------------------ the clients


def dossier_codes(count: int, *, start: int = 0) -> list[str]:
    """``count`` distinct dossier codes (9,999 a day, days going back from 2026-11-26)."""
    from schemas.dossier_code import make_dossier_code

    day = dt.date(2026, 11, 26)
    return [
        make_dossier_code(AGENCY, day - dt.timedelta(days=n // 9999), n % 9999 + 1)
        for n in range(start, start + count)
    ]


def dossier_body(code: str) -> dict[str, Any]:
    """A ``PUT /v1/dossiers/{code}`` body whose receipt date is the code's."""
    from schemas.dossier_code import parse_dossier_code
    from schemas.times import VN_TZ

    received = dt.datetime.combine(
        parse_dossier_code(code).received_on, dt.time(8, 30), tzinfo=VN_TZ
    )
    return {
        "procedure_code": "1.001193",
        "agency_code": AGENCY,
        "sector_code": "TP.HT",
        "applicant_name": "Nguyễn Văn An",
        "applicant_id": "001085000123",
        "status": 1,
        "received_at": received.isoformat(),
        "updated_at": received.isoformat(),
        "title": "Đăng ký khai sinh",
    }


def event_body(code: str, sequence: int, status: int) -> dict[str, Any]:
    """Step ``sequence`` of dossier ``code``: a move to ``status``, an hour after the last."""
    from schemas.dossier_code import parse_dossier_code
    from schemas.times import VN_TZ

    received = dt.datetime.combine(
        parse_dossier_code(code).received_on, dt.time(8, 30), tzinfo=VN_TZ
    )
    occurred = received + dt.timedelta(hours=sequence)
    return {"sequence": sequence, "status": status, "occurred_at": occurred.isoformat()}


class Clients:
    """Signed calls to the adapter (``province-app``), every answer's signature verified.

    A minimal HTTP/1.1 client over keep-alive connections (one per client at a time): the load
    generator shares the machine's two cores with what it measures, and aiohttp costs several
    times more CPU per request than the signing and verifying themselves.
    """

    def __init__(self, base: str, keys: Path, concurrency: int) -> None:
        from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
        from security.keys import load_party
        from security.trust import TrustStore

        trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
        self.base = base
        self.authority = base.split("://", 1)[1]
        self.signer = HttpSigner(load_party(keys, "province-app"), ttl=60)
        self.verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), None)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def call(self, method: str, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        from security.http_signatures import RequestView

        url = self.base + path
        body = json.dumps(payload).encode()
        headers = {"content-type": "application/json"}
        headers.update(self.signer.sign_request(method, url, headers, body))
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.authority}"]
        lines += [f"content-length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            host, port = self.authority.rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(head + body)
        status = int((await reader.readuntil(b"\r\n")).split(b" ", 2)[1])
        answer_headers: list[tuple[str, str]] = []
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            answer_headers.append((name.strip().lower(), value.strip()))
        length = next(int(v) for k, v in answer_headers if k == "content-length")
        content = await reader.readexactly(length)
        self._idle.append((reader, writer))
        self.verifier.verify_response(
            status,
            answer_headers,
            content,
            request=RequestView(method, url, headers),
            expected_keyid="adapter",
        )
        return status, json.loads(content)

    async def aclose(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle = []


async def _in_parallel(
    jobs: list[Any], concurrency: int, job: Callable[[Any], Awaitable[None]]
) -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in jobs:
        queue.put_nowait(item)

    async def client() -> None:
        while not queue.empty():
            await job(queue.get_nowait())

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def _portal_holds(
    mock_url: str,
    *,
    dossiers: int,
    progress: int,
    seconds: float = 600,
    sent: asyncio.Event | None = None,
) -> float:
    """Poll the mock until it holds ``dossiers`` and ``progress`` steps; when it did.

    Every 100 ms while requests are still being ``sent`` (the summary costs the mock a walk over
    its dossiers), every 5 ms after.
    """
    import aiohttp

    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as admin:
        while time.monotonic() < deadline:
            async with admin.get(f"{mock_url}/_admin/portal/summary") as answer:
                held = await answer.json()
            if held["dossiers"] >= dossiers and held["progress"] >= progress:
                return time.perf_counter()
            await asyncio.sleep(0.1 if sent is not None and not sent.is_set() else 0.005)
    raise RuntimeError(f"the portal mock did not receive everything: {held}")


async def _check_portal(mock_url: str, accepted: dict[str, set[str]]) -> dict[str, int]:
    """Compare what the mock holds with what the API accepted: lost, applied twice, extra."""
    import aiohttp

    lost = twice = extra = resent = 0
    async with aiohttp.ClientSession() as admin:
        for code, keys in accepted.items():
            async with admin.get(f"{mock_url}/_admin/portal/dossiers/{code}") as answer:
                if answer.status == 404:
                    lost += len(keys)
                    continue
                held = await answer.json()
            applied = [step["IdempotencyKey"] for step in held["progress"]]
            twice += len(applied) - len(set(applied))
            lost += len(keys - set(applied))
            extra += len(set(applied) - keys)
            resent += sum(step["seen"] - 1 for step in held["progress"])
    return {"lost": lost, "applied_twice": twice, "unknown_applied": extra, "resent": resent}


async def throughput(
    kind: str,
    url: str,
    keys: Path,
    work: Path,
    *,
    dossiers: int,
    events: int,
    clients: int,
    worker: str,
    rounds: int,
) -> dict[str, Any]:
    """Events/s from the API's acceptance to the portal mock's acknowledgement."""
    data = work / f"data-{kind}"
    data.mkdir()
    mock_port, adapter_port = free_port(), free_port()
    mock = _start(["--serve-mock", str(mock_port), str(keys)], mock_port, work / "mock.log")
    mock_url = f"http://127.0.0.1:{mock_port}"
    processes = [mock]
    try:
        adapter = _start(
            ["--serve-adapter", str(adapter_port), str(keys), str(data), mock_url, url, worker],
            adapter_port,
            work / f"adapter-{kind}.log",
        )
        processes.insert(0, adapter)
        pids = {"adapter": adapter.pid, "portal_mock": mock.pid}
        if worker == "process":
            sync = _spawn_cli(
                ["sync", "run", "--database-url", url, "--keys", str(keys),
                 "--portal-url", f"{mock_url}/portal"],
                work / f"worker-{kind}.log",
            )  # fmt: skip
            processes.insert(0, sync)
            pids["worker"] = sync.pid
        api = Clients(f"http://127.0.0.1:{adapter_port}", keys, clients)
        try:
            return await _drive(
                api,
                mock_url,
                pids,
                kind,
                dossiers=dossiers,
                events=events,
                clients=clients,
                worker=worker,
                rounds=rounds,
            )
        finally:
            await api.aclose()
    finally:
        for process in processes:
            _stop(process)


async def _drive(
    api: Clients,
    mock_url: str,
    pids: dict[str, int],
    kind: str,
    *,
    dossiers: int,
    events: int,
    clients: int,
    worker: str,
    rounds: int,
) -> dict[str, Any]:
    """``rounds`` rounds, each on ``dossiers`` new dossiers; the best round and every round."""
    found = []
    for number in range(rounds):
        codes = dossier_codes(dossiers, start=number * dossiers)
        found.append(
            await _round(api, mock_url, pids, kind, codes, events, clients, held=number * dossiers)
        )
        print(kind, "round", number + 1, json.dumps(found[-1]), flush=True)
    best = max(found, key=lambda r: r["events_per_s_accept_to_ack"])
    return {
        "worker": "inside the adapter (as lienthong serve)"
        if worker == "inprocess"
        else "own process (lienthong sync run)",
        "clients": clients,
        "dossiers_per_round": dossiers,
        "events_per_dossier": events,
        "rounds": len(found),
        **best,
        "lost": sum(r["lost"] for r in found),
        "applied_twice": sum(r["applied_twice"] for r in found),
        "every_round_events_per_s": [r["events_per_s_accept_to_ack"] for r in found],
    }


async def _round(
    api: Clients,
    mock_url: str,
    pids: dict[str, int],
    kind: str,
    codes: list[str],
    events: int,
    clients: int,
    *,
    held: int,
) -> dict[str, Any]:
    """Register ``codes``, then post their steps: throughput, latency, CPU, lost, twice."""

    async def register(code: str) -> None:
        status, answer = await api.call("PUT", f"/v1/dossiers/{code}", dossier_body(code))
        if status != 201:
            raise RuntimeError(f"PUT answered {status}: {answer}")

    dossiers = len(codes)
    started = time.perf_counter()
    await _in_parallel(codes, clients, register)
    progress_before = held * events
    registered = (
        await _portal_holds(mock_url, dossiers=held + dossiers, progress=progress_before) - started
    )

    steps = [int(status) for status in LIFECYCLE[:events]]
    accepted: dict[str, set[str]] = {code: set() for code in codes}
    latencies: list[float] = []
    refused: dict[int, int] = {}

    async def post_steps(code: str) -> None:
        for sequence, status in enumerate(steps, start=1):
            sent = time.perf_counter()
            answer_status, answer = await api.call(
                "POST", f"/v1/dossiers/{code}/events", event_body(code, sequence, status)
            )
            latencies.append(time.perf_counter() - sent)
            if answer_status == 202 and not answer["duplicate"]:
                accepted[code].add(f"{code}#{sequence}")
            else:
                refused[answer_status] = refused.get(answer_status, 0) + 1

    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    cpu_before["clients"] = time.process_time()
    if kind == "postgresql":
        cpu_before["postgresql_server"] = _postgres_cpu_seconds()
    total = dossiers * len(steps)
    started = time.perf_counter()
    sent = asyncio.Event()
    poll = asyncio.create_task(
        _portal_holds(
            mock_url, dossiers=held + dossiers, progress=progress_before + total, sent=sent
        )
    )
    await _in_parallel(codes, clients, post_steps)
    accepted_after = time.perf_counter() - started
    sent.set()
    acknowledged_after = await poll - started
    cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    cpu_after["clients"] = time.process_time()
    if kind == "postgresql":
        cpu_after["postgresql_server"] = _postgres_cpu_seconds()
    checked = await _check_portal(mock_url, accepted)
    latencies.sort()
    return {
        "dossiers": dossiers,
        "events": total,
        "events_accepted": sum(len(keys) for keys in accepted.values()),
        "events_refused": refused,
        "dossiers_registered_and_synced_per_s": round(dossiers / registered, 1),
        "accepted_per_s": round(total / accepted_after, 1),
        "events_per_s_accept_to_ack": round(total / acknowledged_after, 1),
        "post_latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        },
        "last_ack_after_last_accept_ms": round((acknowledged_after - accepted_after) * 1000, 1),
        "cpu_ms_per_event": {
            name: round((cpu_after[name] - cpu_before[name]) * 1000 / total, 3)
            for name in cpu_before
        },
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


async def _store(kind: str, keys: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
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
        # the headline figure is the worker inside the adapter, as ``lienthong serve`` runs it
        key = "throughput" if args.worker == "inprocess" else "throughput_worker_process"
        result[key] = await throughput(
            kind, normalize_url(url), keys, work, dossiers=args.dossiers, events=args.events,
            clients=args.clients, worker=args.worker, rounds=args.rounds,
        )  # fmt: skip
        print(kind, key, json.dumps(result[key]), flush=True)
    finally:
        drop()
    if args.skip_claim_feed:
        return result
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if RESULTS.exists():  # kept: what this run does not measure again
        results = json.loads(RESULTS.read_text())
        for stale in ("dossiers", "events_per_dossier"):  # the per-store figures say it now
            results.pop(stale, None)
    results |= {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "goal_events_per_s": GOAL,
        "accepted_through": "signed POST /v1/dossiers/{code}/events to the adapter over HTTP",
        "sizes": SIZES,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        keys = work / "keys"
        init_dev_pki(keys)
        kinds = ["sqlite"] + (["postgresql"] if os.environ.get("LIENTHONG_TEST_PG_DSN") else [])
        for kind in kinds:
            if args.only and kind != args.only:
                continue
            found = await _store(kind, keys, work, args)
            previous = results.get(kind, {})
            results[kind] = {**previous, **found}
            if args.keep_logs:
                for log in work.glob("*.log"):
                    (Path(args.keep_logs) / log.name).write_bytes(log.read_bytes())
    for kind in ("sqlite", "postgresql"):
        figures = results.get(kind, {}).get("throughput")
        if figures:
            figures["meets_goal"] = (
                figures["events_per_s_accept_to_ack"] >= GOAL
                and figures["lost"] == 0
                and figures["applied_twice"] == 0
            )
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-mock":
        serve_mock(int(sys.argv[2]), sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-adapter":
        serve_adapter(int(sys.argv[2]), *sys.argv[3:8])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1500, help="new dossiers per round")
    parser.add_argument("--events", type=int, default=6, help="steps per dossier (at most 7)")
    parser.add_argument("--clients", type=int, default=48, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="the best round is reported")
    parser.add_argument("--worker", choices=["inprocess", "process"], default="inprocess")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--skip-claim-feed", action="store_true")
    parser.add_argument("--keep-logs", help="copy the child processes' logs to this folder")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for kind in ("sqlite", "postgresql"):
        figures = results.get(kind, {}).get("throughput")
        if figures:
            print(
                f"{kind:<11} {figures['events_per_s_accept_to_ack']:>8.1f} events/s accepted → "
                f"acknowledged (accepted {figures['accepted_per_s']:.1f}/s), "
                f"lost {figures['lost']}, applied twice {figures['applied_twice']}"
            )
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
