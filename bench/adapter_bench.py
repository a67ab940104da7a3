"""Adapter benchmark: signed citizen lookups through the adapter against direct unsigned calls.

Run: ``.venv/bin/python bench/adapter_bench.py [--calls N] [--concurrency C] [--rounds R]``
(``--workers N`` serves the adapter as ``lienthong serve --workers N``; ``--clock-detail``
splits its route and middleware from its server, loop and client; ``--redis`` keeps its
nonces in the local Redis; ``--database-url`` gives it another store than a fresh SQLite file)

Three processes on this machine, in one run so noise cancels out:

* the **mock** national endpoints (one uvicorn worker, a fresh development PKI, ``allow_unsigned``
  so a raw unsigned SOAP request is answered too — replies are signed either way);
* the **adapter** (one uvicorn worker served by ``lienthong.serve.run_server`` as
  ``lienthong serve --no-sandbox`` runs it, through ``bench/adapter_clocked.py``: clients
  file, SQLite store, message log and access log written for every lookup);
* this process, the **load generator** (uvloop and the connectors' lean HTTP client for both
  paths, ``C`` requests in flight), whose CPU is measured but is not what is compared.

Two paths are driven alternately, ``R`` rounds of ``N`` calls each:

* **direct** — the GetCitizen SOAP envelope POSTed unsigned straight to the mock;
* **adapter** — ``GET /v1/citizens/{id}`` with ``X-User-Id``/``X-Issue``, signed (RFC 9421) by
  ``province-app``; the adapter verifies it, checks the purpose, signs the SOAP
  request (WS-Security), verifies the signed reply, logs the exchange and the access, signs its
  answer; this process verifies the adapter's signature on every answer. The load generator
  signs a round's requests before the round and verifies every answer after it, outside the
  timed window: a provincial system signs and checks on its own machine, not on the gateway's
  two cores.

Reported, in ``bench/results/adapter.json`` and on stdout:

* **measured** — calls per second of each path (best round), their ratio (X-Road's one published
  field report is 110 TPS through the gateway against 1000 direct: 0.11; the old goal of 0.5 was
  withdrawn for a 2-core machine shared by the three processes) and p50/p99 latency. On a
  2-core machine the three processes compete for the cores, so this ratio also charges the
  adapter path for the mock's and the load generator's extra work;
* **CPU per call** of each process (median of the rounds; the adapter's event-loop thread apart
  from its SQLite driver threads) and the **capacity** of each path: the calls per second it
  would sustain if each process had a core of its own, ``1 / the busiest process's CPU per
  call``, and their ratio;
* the log group commit's records per transaction (from the adapter's ``/metrics``) and the
  adapter's memory: RSS before and after the load, peak (VmHWM);
* the **floor** (``bench/adapter_floor.py``), in the same run: a bare forwarder on the adapter's
  own server settings and HTTP client, driven as a third path, plus the four signature
  operations and the two durable log writes a lookup needs, measured in this process; the
  adapter's CPU per lookup (every thread of its process) as a **multiple of the floor**;
* the **integrated floor** (``bench/floor_server.py``), in the same run: the floor's work done
  inline by one bare server (RFC 9421 verify, WS-Security sign, the population call,
  WS-Security verify, the two log rows group-committed on its event loop, RFC 9421 sign of the
  reply), served as the adapter is and driven as a fourth path with the same signed lookups,
  every answer's signature checked; its process's CPU per lookup, the adapter's as a multiple
  of it, and (with py-spy) its own stage profile beside the adapter's;
* the **checks** the floor leaves out on purpose (``bench/adapter_checks.py``: request guard,
  request id, admission, purpose, building the request, resilience, the echo, reading the
  answer, metrics, the access entry, the answer's JSON, the lookup's inputs), each timed in this
  process with the adapter's own functions on this run's lookup and a reply of its mock; the
  adapter's CPU per lookup as a multiple of **the floor and the checks**;
* the adapter's **CPU clock per stage** (one worker): the adapter is served through
  ``bench/adapter_clocked.py``, which reads ``time.thread_time`` around the functions of each
  stage (RFC 9421, WS-Security, the log writes — their driver threads' CPU from the kernel —
  and reading the answer; the rest of its CPU is the server, the loop, the client, the route
  and the middleware) at 11–17 µs a lookup (< 1 % of its CPU; measured and printed on each
  run); each measured adapter round's stages beside the integrated floor's own clock, stage by
  stage, and their ratios;
* with py-spy installed (the ``bench`` extra), one more adapter round under a profile
  (``bench/adapter_profile.py``): each stage's share of the adapter's CPU and its ms per lookup
  (``bench/profile_stages.py`` says which module belongs to which stage).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adapter_checks import CHECKS, Lookup, clients_file_text, lookup_checks  # noqa: E402
from adapter_checks import measure as measure_checks  # noqa: E402
from adapter_clocked import (  # noqa: E402
    CLOCK_PATH,
    DETAIL,
    DETAIL_PARTS,
    DETAIL_STAGES,
    PART_PREFIX,
    stages_per_lookup,
)
from adapter_floor import (  # noqa: E402
    SIGNATURE_PARTS,
    SOAP_HEADERS,
    log_write_floor,
    signature_floor,
)
from adapter_profile import (  # noqa: E402
    Profile,
    integrated_stage_figures,
    py_spy,
    stage_figures,
)
from floor_server import LOG_PATH  # noqa: E402
from harness import (  # noqa: E402
    free_port,
    get_citizen_envelope,
    process_tree,
    start_child,
    tree_cpu_seconds,
    tree_system_cpu_seconds,
    tree_thread_cpu_seconds,
)
from lxml import etree  # noqa: E402

from connectors.http_client import ConnectionPool  # noqa: E402
from security.http_signatures import (  # noqa: E402
    HttpSigner,
    HttpVerifier,
    RequestView,
    TrustedKeyDirectory,
)
from security.keys import load_party  # noqa: E402
from security.trust import TrustStore  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "adapter.json"
#: the integrated floor's operations timed by its own thread CPU clock (``/_floor/log``)
CLOCKED_STAGES = ("rfc9421", "ws_security")
#: the shared replay cache of ``--workers N`` (a database of its own; nonces expire by themselves)
REDIS_URL = "redis://127.0.0.1:6379/14"
OFFICIAL = "VN001090000001"
XROAD_FIELD_RATIO = 110 / 1000


# ------------------------------------------------------------------------------ child processes


def serve_mock(port: int, keys: str) -> None:
    """Child process: the mock endpoints on 127.0.0.1:port (one worker, unsigned accepted)."""
    import uvicorn

    from mock_endpoints.app import create_mock_app
    from mock_endpoints.settings import MockSettings

    app = create_mock_app(MockSettings(keys_dir=Path(keys), allow_unsigned=True))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def adapter_environment(
    data: Path, keys: Path, mock_url: str, workers: int, database_url: str, redis: bool
) -> dict[str, str]:
    """The adapter's settings as ``LIENTHONG_*`` variables (and its clients file, written here):
    production wiring against the mock at ``mock_url``."""
    clients = data / "clients.toml"
    # a limit the bench never reaches: it measures the adapter, not 429s
    clients.write_text(clients_file_text(keys), encoding="utf-8")
    settings = {
        "SANDBOX": "false",
        "KEYS_DIR": str(keys),
        "DATA_DIR": str(data),
        "CLIENTS_FILE": str(clients),
        "POPULATION_URL": f"{mock_url}/population/soap",
        "REGISTRY_URL": f"{mock_url}/registry",
        "PORTAL_URL": f"{mock_url}/portal",
        "RUN_WORKER": "false",
        "UPSTREAM_ATTEMPT_TIMEOUT": "10",
        "UPSTREAM_DEADLINE": "20",
        "WORKERS": str(workers),
        "REPLAY_CACHE_URL": REDIS_URL if redis else "",
        "DATABASE_URL": database_url,
    }
    return {**os.environ, **{f"LIENTHONG_{name}": value for name, value in settings.items()}}


def serve_adapter(port: int) -> None:
    """Child process: one adapter process on 127.0.0.1:port, settings from the environment, as
    ``lienthong serve`` runs it (``LIENTHONG_BENCH_PROFILE`` names a file for a CPU profile)."""
    import uvicorn

    from adapter_api.app import create_app
    from lienthong.bootstrap import build_container, prepare
    from lienthong.serve import run_server
    from lienthong.settings import Settings

    settings = Settings(port=port)
    prepare(settings)
    app = create_app(build_container(settings))
    profile = os.environ.get("LIENTHONG_BENCH_PROFILE")
    if profile:  # where the adapter's CPU goes: cProfile of the event loop's thread
        import cProfile
        import signal

        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
        signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
        with cProfile.Profile(time.thread_time) as profiler:  # CPU, not wall time
            server.run()
        profiler.dump_stats(profile)
        return
    run_server(app, host="127.0.0.1", port=port, log_level="warning")


# ------------------------------------------------------------------------------ /proc figures


def tree_memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) in KiB, summed over ``pid`` and its descendants."""
    found = {"VmRSS": 0, "VmHWM": 0}
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in found:
                found[name] += int(value.split()[0])
    return found


# ------------------------------------------------------------------------------ load


async def drive(
    call: Callable[[], Awaitable[None]], calls: int, concurrency: int, pids: dict[str, int]
) -> dict[str, float]:
    """``calls`` calls, ``concurrency`` at a time: throughput, latency, CPU per call."""
    latencies: list[float] = []
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    cpu_before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    loop_before = {name: tree_thread_cpu_seconds(pid) for name, pid in pids.items()}
    system_before = {name: tree_system_cpu_seconds(pid) for name, pid in pids.items()}
    own_cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, own_cpu = time.perf_counter() - wall, time.process_time() - own_cpu
    latencies.sort()
    result = {
        "calls": calls,
        "per_second": calls / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "cpu_ms_per_call_loadgen": own_cpu / calls * 1000,
    }
    for name, pid in pids.items():
        cpu = tree_cpu_seconds(pid) - cpu_before[name]
        result[f"cpu_ms_per_call_{name}"] = cpu / calls * 1000
        loop = (tree_thread_cpu_seconds(pid) - loop_before[name]) / calls * 1000
        result[f"cpu_ms_per_call_{name}_event_loop"] = loop
        system = (tree_system_cpu_seconds(pid) - system_before[name]) / calls * 1000
        result[f"cpu_ms_per_call_{name}_system"] = system
    return result


def purpose_dossier(citizen: str) -> dict[str, Any]:
    """A dossier naming ``citizen`` as its applicant: the purpose the bench's lookups are made
    under."""
    return {
        "procedure_code": "1.001193",
        "agency_code": "000.00.04.H04",
        "sector_code": "TP.HT",
        "applicant_name": "Nguyễn Văn An",
        "applicant_id": citizen,
        "status": 1,
        "received_at": "2026-11-26T08:30:00+07:00",
        "updated_at": "2026-11-26T08:30:00+07:00",
        "title": "Đăng ký khai sinh",
    }


def check_answer(
    verifier: HttpVerifier,
    request: tuple[str, str, dict[str, str]],
    status: int,
    headers: Any,
    content: bytes,
) -> None:
    """Raise unless the answer ``status``, ``headers``, ``content`` is signed by the adapter,
    bound to ``request`` (method, URL, header fields sent)."""
    verifier.verify_response(
        status, headers, content, request=RequestView(*request), expected_keyid="adapter"
    )


async def register_purposes(
    client: ConnectionPool, signer: HttpSigner, verifier: HttpVerifier, base: str, mock_url: str
) -> tuple[list[str], list[str]]:
    """Up to 50 citizens the mock knows and, for each, the dossier naming them as its applicant,
    stored through the adapter at ``base`` (signed PUTs, answers verified): purpose binding, each
    citizen is looked up under their own dossier. Returns the citizens and the dossiers' codes."""
    _, _, listing = await client.request(
        "GET", f"{mock_url}/_admin/population/citizens?limit=50", {}, None
    )
    citizens = [c["citizen_id"] for c in json.loads(listing)["citizens"]]
    issues = [f"000.00.04.H04-261126-{n:04d}" for n in range(1, len(citizens) + 1)]
    for citizen, issue in zip(citizens, issues, strict=True):
        url = f"{base}/v1/dossiers/{issue}"
        body = json.dumps(purpose_dossier(citizen)).encode()
        headers = {"content-type": "application/json"}
        headers.update(signer.sign_request("PUT", url, headers, body))
        status, answer_headers, content = await client.request("PUT", url, headers, body)
        check_answer(verifier, ("PUT", url, headers), status, answer_headers, content)
        assert status in (200, 201), (status, content[:200])
    return citizens, issues


def soap_envelope(citizen_id: str, issue: str) -> bytes:
    """An unsigned GetCitizen request envelope, as a provincial system would send it."""
    envelope = get_citizen_envelope(citizen_id, user_id=OFFICIAL, issue=issue)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def redis_server_pid() -> int | None:
    """The local ``redis-server`` (the replay cache with ``--redis``), if one runs."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "redis-server":
                    return int(entry.name)
    return None


async def run(
    calls: int, concurrency: int, rounds: int, workers: int, database_url: str, redis: bool
) -> dict[str, Any]:
    from security.pki import init_dev_pki

    work = Path(tempfile.mkdtemp(prefix="lienthong-adapter-bench-"))
    keys, data = work / "keys", work / "data"
    init_dev_pki(keys)
    data.mkdir()
    mock_port, adapter_port = free_port(), free_port()
    mock = start_child(__file__, ["--serve-mock", str(mock_port), str(keys)], mock_port)
    mock_url = f"http://127.0.0.1:{mock_port}"
    environment = adapter_environment(data, keys, mock_url, workers, database_url, redis)
    if workers > 1:  # the command itself: its supervisor and workers are what is measured
        command = [
            "lienthong.cli",
            "serve",
            "--port",
            str(adapter_port),
            "--log-level",
            "warning",
        ]
        adapter = start_child("-m", command, adapter_port, env=environment)
    elif os.environ.get("LIENTHONG_BENCH_PROFILE"):  # cProfile: serve_adapter
        adapter = start_child(
            __file__, ["--serve-adapter", str(adapter_port)], adapter_port, env=environment
        )
    else:  # the same process with its CPU clock per stage (bench/adapter_clocked.py)
        adapter = start_child(
            str(ROOT / "bench" / "adapter_clocked.py"),
            [str(adapter_port)],
            adapter_port,
            env=environment,
        )
    base = f"http://127.0.0.1:{adapter_port}"
    # the floor's forwarder: one GetCitizen envelope (a citizen the mock knows) on every request
    client = ConnectionPool(max_connections=concurrency * 2, connect_timeout=5.0)
    _, _, listing = await client.request(
        "GET", f"{mock_url}/_admin/population/citizens?limit=1", {}, None
    )
    envelope_file = work / "forwarded.xml"
    first = json.loads(listing)["citizens"][0]["citizen_id"]
    envelope_file.write_bytes(soap_envelope(first, "000.00.04.H04-261126-0001"))
    forwarder_port = free_port()
    forwarder = start_child(
        str(ROOT / "bench" / "adapter_floor.py"),
        [
            "--serve-forwarder",
            str(forwarder_port),
            f"{mock_url}/population/soap",
            str(envelope_file),
        ],
        forwarder_port,
    )
    integrated_port = free_port()
    integrated = start_child(
        str(ROOT / "bench" / "floor_server.py"),
        [
            str(integrated_port),
            f"{mock_url}/population/soap",
            str(keys),
            str(work / "integrated-floor.db"),
        ],
        integrated_port,
    )
    pids = {"adapter": adapter.pid, "mock": mock.pid}
    redis_pid = redis_server_pid() if redis else None
    if redis_pid is not None:  # its CPU is the gateway's too: count it beside the adapter's
        pids["redis"] = redis_pid
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    signer = HttpSigner(load_party(keys, "province-app"), ttl=60)
    verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), None)
    # the same lean client for every path: the load generator's CPU is not what is measured
    try:
        await _until_ready(client, base)
        await _until_idle(adapter.pid)
        paths = Paths(
            base,
            mock_url,
            f"http://127.0.0.1:{forwarder_port}",
            forwarder.pid,
            f"http://127.0.0.1:{integrated_port}",
            integrated.pid,
            work,
        )
        return await _measure(
            client, signer, verifier, paths, pids, calls, concurrency, rounds, workers
        )
    finally:
        client.close()
        for process in (adapter, mock, forwarder, integrated):
            process.terminate()
            process.wait(timeout=20)


async def _until_ready(client: ConnectionPool, base: str) -> None:
    """Wait (at most a minute) until the adapter answers ``/readyz`` (its workers serve)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, _ = await client.request("GET", f"{base}/readyz", {}, None)
        if status == 200:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the adapter did not become ready")


async def _until_idle(pid: int) -> None:
    """Wait (at most a minute) until ``pid`` and its children have finished starting up: under 5 %
    of a core over half a second (workers other than the first may still be importing)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        before = tree_cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if tree_cpu_seconds(pid) - before < 0.025:
            return
    raise RuntimeError("the adapter's processes did not settle")


@dataclass(frozen=True, slots=True)
class Paths:
    """Where the run's servers listen, the floor servers' processes and the run's folder."""

    base: str
    mock_url: str
    forwarder_url: str
    forwarder_pid: int
    integrated_url: str
    integrated_pid: int
    work: Path


async def _measure(
    client: ConnectionPool,
    signer: HttpSigner,
    verifier: HttpVerifier,
    paths: Paths,
    pids: dict[str, int],
    calls: int,
    concurrency: int,
    rounds: int,
    workers: int,
) -> dict[str, Any]:
    base, mock_url = paths.base, paths.mock_url
    citizens, issues = await register_purposes(client, signer, verifier, base, mock_url)
    issue = issues[0]

    envelopes = [soap_envelope(random.choice(citizens), issue) for _ in range(512)]
    soap_headers = SOAP_HEADERS
    soap_url = f"{mock_url}/population/soap"
    counter = 0

    async def direct() -> None:
        nonlocal counter
        counter += 1
        envelope = envelopes[counter % len(envelopes)]
        status, _, _ = await client.request("POST", soap_url, soap_headers, envelope)
        assert status == 200, status

    # The client's own signing and checking are done outside the timed window (a provincial
    # system runs on its own machine): each round's requests are signed before it starts and
    # every answer's signature is verified after it ends.
    prepared: list[tuple[str, dict[str, str]]] = []
    answered: list[tuple[str, dict[str, str], int, dict[str, str], bytes]] = []

    def prepare(count: int, server: str = base) -> None:
        prepared.clear()
        for _ in range(count):
            pick = random.randrange(len(citizens))
            url = f"{server}/v1/citizens/{citizens[pick]}"
            headers = {"X-User-Id": OFFICIAL, "X-Issue": issues[pick]}
            headers.update(signer.sign_request("GET", url, headers, b""))
            prepared.append((url, headers))

    def check_answers() -> None:
        for url, headers, status, answer_headers, content in answered:
            assert status == 200, status
            check_answer(verifier, ("GET", url, headers), status, answer_headers, content)
        answered.clear()

    async def through_adapter() -> None:
        url, headers = prepared.pop()
        status, answer_headers, content = await client.request("GET", url, headers, None)
        answered.append((url, headers, status, answer_headers, content))

    async def forward() -> None:
        status, _, _ = await client.request("GET", paths.forwarder_url, {}, None)
        assert status == 200, status

    clocked_adapter = workers == 1 and not os.environ.get("LIENTHONG_BENCH_PROFILE")

    async def adapter_clock() -> dict[str, Any]:
        """The adapter's CPU clock per stage so far (``bench/adapter_clocked.py``)."""
        status, _, readings = await client.request("GET", base + CLOCK_PATH, {}, None)
        assert status == 200, status
        return dict(json.loads(readings))

    async def integrated_log() -> dict[str, float]:
        """The integrated floor's group commit counters (``bench/floor_server.py``)."""
        status, _, counters = await client.request("GET", paths.integrated_url + LOG_PATH, {}, None)
        assert status == 200, status
        return dict(json.loads(counters))

    watched_of = {
        "forwarder": {"forwarder": paths.forwarder_pid, "mock": pids["mock"]},
        "integrated_floor": {"integrated_floor": paths.integrated_pid, "mock": pids["mock"]},
    }
    memory_before = tree_memory_kib(pids["adapter"])
    runs: dict[str, list[dict[str, float]]] = {
        "direct": [],
        "adapter": [],
        "forwarder": [],
        "integrated_floor": [],
    }
    for _ in range(rounds):
        paths_of_round = (
            ("direct", direct),
            ("adapter", through_adapter),
            ("forwarder", forward),
            ("integrated_floor", through_adapter),
        )
        for name, call in paths_of_round:
            for count in (concurrency * 4, calls):  # a warm-up, then the measured round
                if name == "adapter":
                    prepare(count)
                elif name == "integrated_floor":  # the same signed lookups, to the floor server
                    prepare(count, paths.integrated_url)
                    log_before = await integrated_log()
                if name == "adapter" and clocked_adapter:
                    clock_before = await adapter_clock()
                measured = await drive(call, count, concurrency, watched_of.get(name, pids))
                check_answers()
            if name == "adapter" and clocked_adapter:  # the adapter's own clock per stage
                stages = stages_per_lookup(clock_before, await adapter_clock(), count)
                for stage, spent_ms in stages.items():
                    measured[f"clock_{stage}_ms_per_lookup"] = spent_ms
            if name == "integrated_floor":  # its commits' CPU and lookups per transaction
                log_after = await integrated_log()
                commits = log_after["transactions"] - log_before["transactions"]
                measured["commit_cpu_ms_per_lookup"] = (
                    (log_after["cpu_seconds"] - log_before["cpu_seconds"]) / count * 1000
                )
                measured["lookups_per_transaction"] = count / max(1, commits)
                for stage in CLOCKED_STAGES:  # the server's own CPU clock around each operation
                    spent = log_after[f"{stage}_cpu_seconds"] - log_before[f"{stage}_cpu_seconds"]
                    measured[f"{stage}_cpu_ms_per_lookup"] = spent / count * 1000
            runs[name].append(measured)
    memory_after = tree_memory_kib(pids["adapter"])
    _, _, exposition = await client.request("GET", f"{base}/metrics", {}, None)
    per_transaction = _records_per_transaction(exposition.decode())
    profile = integrated_profile = None
    if workers == 1:  # a profile of one process: with --workers the load is spread over several
        profile = await _profile_round(
            pids["adapter"], prepare, through_adapter, max(calls, 3000), concurrency
        )
        check_answers()
        integrated_profile = await _profile_round(
            paths.integrated_pid,
            lambda count: prepare(count, paths.integrated_url),
            through_adapter,
            max(calls, 3000),
            concurrency,
        )
    check_answers()
    if profile is not None:  # the stacks themselves, for a closer look
        (paths.work / "profile.txt").write_text(profile, encoding="utf-8")
    if integrated_profile is not None:
        (paths.work / "integrated-profile.txt").write_text(integrated_profile, encoding="utf-8")
    # the floor's in-process parts, on this run's keys and messages
    _, _, answer = await client.request("POST", soap_url, soap_headers, envelopes[0])
    pick = random.randrange(len(citizens))
    signatures = signature_floor(
        paths.work / "keys",
        f"{base}/v1/citizens/{citizens[pick]}",
        {"X-User-Id": OFFICIAL, "X-Issue": issues[pick]},
        answer,
        calls=300,
    )
    lookups_per_transaction = max(1, round((per_transaction or 2.0) / 2))
    log_writes = log_write_floor(
        paths.work,
        len(envelopes[0]) + 2600,  # the signed request: its Security header added
        len(answer),
        lookups_per_transaction,
        lookups=lookups_per_transaction * max(1, 1200 // lookups_per_transaction),
    )
    checks = await _checks(client, paths, soap_url, citizens[pick], issues[pick])
    best = {name: max(found, key=lambda r: r["per_second"]) for name, found in runs.items()}
    ratio = best["adapter"]["per_second"] / best["direct"]["per_second"]
    cpu = {name: _median_cpu(found) for name, found in runs.items()}
    capacity = {name: 1000 / _busiest_core(found, workers) for name, found in cpu.items()}
    floor = {"forwarder": cpu["forwarder"]["forwarder"], **signatures, "log_writes": log_writes}
    floor_total = sum(floor.values())
    adapter_cpu = cpu["adapter"]["adapter"]
    loop_cpu = statistics.median(r["cpu_ms_per_call_adapter_event_loop"] for r in runs["adapter"])
    integrated_runs = runs["integrated_floor"]
    integrated_cpu = cpu["integrated_floor"]["integrated_floor"]
    integrated_loop = statistics.median(
        r["cpu_ms_per_call_integrated_floor_event_loop"] for r in integrated_runs
    )
    integrated_commit = statistics.median(r["commit_cpu_ms_per_lookup"] for r in integrated_runs)
    clocked = {
        stage: statistics.median(r[f"{stage}_cpu_ms_per_lookup"] for r in integrated_runs)
        for stage in CLOCKED_STAGES
    }
    clocked["log_writes"] = integrated_commit
    # the rest of its process's CPU: the server, the loop, the client (and its few lines of glue)
    clocked["server_loop_client"] = integrated_cpu - sum(clocked.values())
    adapter_clocked = _median_clock(runs["adapter"]) if clocked_adapter else None
    return {
        "benchmark": "adapter",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "settings": {
            "calls": calls,
            "concurrency": concurrency,
            "rounds": rounds,
            "adapter_workers": workers,
        },
        "replay_cache": "redis"
        if "redis" in pids
        else "shared memory"
        if workers > 1
        else "memory",
        "direct": best["direct"],
        "adapter": best["adapter"],
        "rounds": runs,
        "throughput_ratio": ratio,
        "xroad_field_ratio": XROAD_FIELD_RATIO,
        "cpu_ms_per_call_median": cpu,
        "capacity_per_second": capacity,
        "capacity_ratio": capacity["adapter"] / capacity["direct"],
        "log_records_per_transaction": per_transaction,
        "floor_ms_per_lookup": {**floor, "total": floor_total},
        "floor_lookups_per_transaction": lookups_per_transaction,
        "adapter_cpu_ms_per_lookup": adapter_cpu,
        "adapter_to_floor": adapter_cpu / floor_total,
        "integrated_floor_ms_per_lookup": integrated_cpu,
        "adapter_to_integrated_floor": adapter_cpu / integrated_cpu,
        "system_ms_per_lookup": {
            name: statistics.median(r[f"cpu_ms_per_call_{name}_system"] for r in runs[name])
            for name in ("adapter", "integrated_floor")
        },
        "integrated_floor_to_floor": integrated_cpu / floor_total,
        "integrated_floor_log": {
            "commit_cpu_ms_per_lookup": integrated_commit,
            "lookups_per_transaction": statistics.median(
                r["lookups_per_transaction"] for r in integrated_runs
            ),
        },
        "integrated_floor_clocked_ms_per_lookup": clocked,
        "adapter_clocked_ms_per_lookup": adapter_clocked,
        "stage_ratios_to_integrated_floor": None
        if adapter_clocked is None
        else stage_ratios(adapter_clocked, clocked),
        "checks_ms_per_lookup": checks,
        "adapter_to_floor_and_checks": adapter_cpu / (floor_total + checks["total"]),
        "profile": None
        if profile is None
        else stage_figures(profile, loop_cpu, adapter_cpu - loop_cpu),
        "profile_stacks": None if profile is None else str(paths.work / "profile.txt"),
        "integrated_floor_profile": None
        if integrated_profile is None
        else integrated_stage_figures(
            integrated_profile,
            integrated_loop,
            integrated_cpu - integrated_loop,
            integrated_commit,
        ),
        "adapter_memory_kib": {
            "rss_before_load": memory_before["VmRSS"],
            "rss_after_load": memory_after["VmRSS"],
            "peak_rss": memory_after["VmHWM"],
        },
    }


async def _checks(
    client: ConnectionPool, paths: Paths, soap_url: str, citizen: str, issue: str
) -> dict[str, float]:
    """The checks outside the floor (``bench/adapter_checks.py``) on this run's keys, clients
    file and lookup, the population's reply from this run's mock."""

    async def post(signed: bytes) -> bytes:
        status, _, reply = await client.request("POST", soap_url, SOAP_HEADERS, signed)
        assert status == 200, status
        return bytes(reply)

    checks = await lookup_checks(
        paths.work / "keys",
        Lookup(paths.base, citizen, OFFICIAL, issue),
        soap_url=soap_url,
        clients_file=paths.work / "data" / "clients.toml",
        post=post,
    )
    return await measure_checks(checks, calls=2000)


async def _profile_round(
    pid: int,
    prepare: Callable[[int], None],
    call: Callable[[], Awaitable[None]],
    calls: int,
    concurrency: int,
) -> str | None:
    """One more adapter round under py-spy: its collapsed stacks (None without py-spy)."""
    command = py_spy()
    if command is None:
        return None
    profile = Profile(pid, command)
    prepare(calls)
    profile.start()
    await asyncio.sleep(1.0)  # attached before the load starts
    await drive(call, calls, concurrency, {})
    return profile.stop()


def _median_clock(found: list[dict[str, float]]) -> dict[str, float]:
    """The adapter's clock per stage (and its split of the log writes, its process CPU and the
    clock's own overhead), ms per lookup, median of the rounds."""
    keys = [key for key in found[0] if key.startswith("clock_")]
    return {
        key.removeprefix("clock_").removesuffix("_ms_per_lookup"): statistics.median(
            r[key] for r in found
        )
        for key in keys
    }


def clock_stages(adapter: dict[str, float]) -> list[str]:
    """The stages of the adapter's clock, in order (``route_middleware`` when it was split)."""
    return [stage for stage in DETAIL_STAGES if stage in adapter]


def stage_ratios(adapter: dict[str, float], floor: dict[str, float]) -> dict[str, float | None]:
    """The adapter's ms per lookup of each stage (by its clock) over the integrated floor's (by
    its clock); None for a stage the floor does not have (reading the answer); ``total`` the
    sums of the stages over each other."""
    stages = clock_stages(adapter)
    ratios: dict[str, float | None] = {
        stage: adapter[stage] / floor[stage] if floor.get(stage) else None for stage in stages
    }
    ratios["total"] = sum(adapter[stage] for stage in stages) / sum(floor.values())
    return ratios


def _median_cpu(found: list[dict[str, float]]) -> dict[str, float]:
    """Median CPU ms per call of each process over the rounds (the load generator included)."""
    names = [key.removeprefix("cpu_ms_per_call_") for key in found[0] if _is_process_cpu(key)]
    return {n: statistics.median(r[f"cpu_ms_per_call_{n}"] for r in found) for n in names}


def _busiest_core(per_process: dict[str, float], workers: int) -> float:
    """CPU ms per call of the busiest core when each process (each adapter worker) has its own."""
    return max(cpu / workers if name == "adapter" else cpu for name, cpu in per_process.items())


def _is_process_cpu(key: str) -> bool:
    return key.startswith("cpu_ms_per_call_") and not key.endswith(("_event_loop", "_system"))


def _records_per_transaction(exposition: str) -> float | None:
    """Records per log transaction, from the adapter's ``/metrics``."""
    values: dict[str, float] = {}
    for line in exposition.splitlines():
        name, _, value = line.partition(" ")
        if name in ("lienthong_log_transactions_total", "lienthong_log_records_total"):
            values[name] = float(value)
    transactions = values.get("lienthong_log_transactions_total")
    if not transactions:
        return None
    return values.get("lienthong_log_records_total", 0.0) / transactions


def report(result: dict[str, Any]) -> None:
    direct, adapter = result["direct"], result["adapter"]
    memory = result["adapter_memory_kib"]
    print("measured, both paths in one run (best round of each):")
    print(f"{'path':<10}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for name, row in (("direct", direct), ("adapter", adapter)):
        print(f"{name:<10}{row['per_second']:>10.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}")
    print(
        f"throughput ratio adapter/direct: {result['throughput_ratio']:.2f} "
        f"(X-Road field report {XROAD_FIELD_RATIO:.2f}) — the load generator, "
        f"the mock and the adapter share {result['machine']['cpus']} cores here"
    )
    workers = result["settings"]["adapter_workers"]
    names = list(result["cpu_ms_per_call_median"]["adapter"])
    print(f"CPU ms per call of each process (median of the rounds; adapter: {workers} worker(s)):")
    print(f"{'path':<10}" + "".join(f"{name:>10}" for name in names) + f"{'capacity/s':>12}")
    for path in ("direct", "adapter"):
        cpu = result["cpu_ms_per_call_median"][path]
        print(
            f"{path:<10}"
            + "".join(f"{cpu.get(name, 0.0):>10.3f}" for name in names)
            + f"{result['capacity_per_second'][path]:>12.0f}"
        )
    print(
        f"capacity ratio adapter/direct: {result['capacity_ratio']:.2f} (capacity: calls/s a "
        "path sustains when each process, each adapter worker, has a core of its own = 1 / the "
        "busiest core's CPU per call)"
    )
    per_transaction = result["log_records_per_transaction"]
    if per_transaction is not None:
        print(f"log group commit: {per_transaction:.1f} records per transaction")
    print(
        f"adapter memory: RSS {memory['rss_before_load'] / 1024:.0f} MiB before load, "
        f"{memory['rss_after_load'] / 1024:.0f} MiB after, peak {memory['peak_rss'] / 1024:.0f} MiB"
    )
    floor = result["floor_ms_per_lookup"]
    parts = ", ".join(
        f"{name} {floor[name]:.3f}" for name in ("forwarder", *SIGNATURE_PARTS, "log_writes")
    )
    print(
        f"floor per signed lookup: {floor['total']:.3f} ms CPU ({parts}; log writes in "
        f"transactions of {result['floor_lookups_per_transaction']} lookups)"
    )
    print(
        f"adapter CPU per lookup: {result['adapter_cpu_ms_per_lookup']:.3f} ms = "
        f"{result['adapter_to_floor']:.2f}x the sum of parts (no server reaches it: see the "
        "integrated floor)"
    )
    integrated_log = result["integrated_floor_log"]
    print(
        f"integrated floor (the same work in one bare server under the same load): "
        f"{result['integrated_floor_ms_per_lookup']:.3f} ms CPU per lookup = "
        f"{result['integrated_floor_to_floor']:.2f}x the sum of parts (log commits "
        f"{integrated_log['commit_cpu_ms_per_lookup']:.3f} ms, "
        f"{integrated_log['lookups_per_transaction']:.1f} lookups per transaction)"
    )
    print(
        f"adapter / integrated floor: {result['adapter_to_integrated_floor']:.2f}x "
        f"({result['adapter_cpu_ms_per_lookup']:.3f} / "
        f"{result['integrated_floor_ms_per_lookup']:.3f} ms; goal <= 1.3x)"
    )
    system = result["system_ms_per_lookup"]
    print(
        f"  of which in the kernel (system calls: sockets, epoll, fsync, the driver thread's "
        f"wake-ups): adapter {system['adapter']:.3f}, integrated floor "
        f"{system['integrated_floor']:.3f} ms per lookup"
    )
    clocked = result["integrated_floor_clocked_ms_per_lookup"]
    print(
        "integrated floor by its own CPU clock, ms per lookup (median of the rounds): "
        + ", ".join(f"{stage} {value:.3f}" for stage, value in clocked.items())
        + " (the rest of its CPU)"
    )
    checks = result["checks_ms_per_lookup"]
    print(
        f"checks outside the floor, in this process: {checks['total']:.3f} ms CPU per lookup ("
        + ", ".join(f"{name} {checks[name]:.3f}" for name in CHECKS)
        + ")"
    )
    print(
        f"adapter / (floor + checks): {result['adapter_to_floor_and_checks']:.2f}x "
        f"({result['adapter_cpu_ms_per_lookup']:.3f} / "
        f"{floor['total'] + checks['total']:.3f} ms)"
    )
    report_clocks(result)
    profile = result["profile"]
    if profile is None:
        print("no profile (one adapter worker only, with py-spy: pip install -e '.[bench]')")
        return
    integrated = result["integrated_floor_profile"] or {"samples": 0, "ms_per_lookup": {}}
    print(
        f"profiles under load ({profile['samples']} samples of the adapter, "
        f"{integrated['samples']} of the integrated floor), ms per lookup (share):"
    )
    clocked = result["integrated_floor_clocked_ms_per_lookup"]
    print(f"  {'stage':<20}{'adapter':>18}{'integrated floor':>20}{'its CPU clock':>15}")
    for stage, share in sorted(profile["share"].items(), key=lambda item: -item[1]):
        mark = "" if stage in profile["floor_stages"] else "  (outside the floor)"
        theirs = integrated["ms_per_lookup"].get(stage, 0.0)
        their_share = integrated.get("share", {}).get(stage, 0.0)
        print(
            f"  {stage:<20}{profile['ms_per_lookup'][stage]:>9.3f} ({share * 100:4.1f} %)"
            f"{theirs:>11.3f} ({their_share * 100:4.1f} %)"
            + (f"{clocked[stage]:>15.3f}" if stage in clocked else f"{'':>15}")
            + mark
        )


def report_route_parts(adapter: dict[str, float]) -> None:
    """``route_middleware`` part by part (a detailed clock), ms and calls per lookup, and the
    garbage collector's time beside it."""
    parts = [key for key in adapter if key.startswith(PART_PREFIX)]
    if not parts:
        return
    cost = adapter["entry_cost_us"] / 1000
    print(
        "  route_middleware by part, ms per lookup (calls: its entry points' per lookup; "
        f"entries: its clock entries, {cost * 1000:.2f} µs each by calibration; net: less them):"
    )
    print(f"    {'part':<18}{'ms':>9}{'calls':>8}{'entries':>9}{'net':>9}")
    for key in parts:
        part = key.removeprefix(PART_PREFIX)
        calls = adapter.get(f"calls:{part}")
        entries = adapter.get(f"entries:{'route_middleware' if part == 'own' else part}", 0.0)
        print(
            f"    {part:<18}{adapter[key]:>9.4f}"
            + (f"{calls:>8.2f}" if calls is not None else f"{'—':>8}")
            + f"{entries:>9.2f}{adapter[key] - entries * cost:>9.4f}"
        )
    if "gc" in adapter:
        print(
            f"  garbage collector on the event loop: {adapter['gc']:.4f} ms per lookup "
            f"({adapter['gc_collections']:.3f} collections, "
            f"{adapter['gc_generation2'] * 1000:.2f} of generation 2 per 1000 lookups; "
            "inside the stages it interrupted)"
        )


def speed_check(adapter: dict[str, float], floor: dict[str, float]) -> float:
    """The adapter's clock for the stages both servers run the same code for (RFC 9421,
    WS-Security) over the integrated floor's: 1 when the machine ran both phases at one speed
    and the adapter costs those calls nothing; on a shared machine it moves with the load."""
    return sum(adapter[stage] for stage in CLOCKED_STAGES) / sum(
        floor[stage] for stage in CLOCKED_STAGES
    )


def report_clocks(result: dict[str, Any]) -> None:
    """The adapter's CPU clock per stage beside the integrated floor's, ms per lookup."""
    adapter = result.get("adapter_clocked_ms_per_lookup")
    if adapter is None:
        print("no stage clock for the adapter (one worker, without LIENTHONG_BENCH_PROFILE)")
        return
    floor = result["integrated_floor_clocked_ms_per_lookup"]
    ratios = result["stage_ratios_to_integrated_floor"]
    print(
        "CPU clock per stage, ms per lookup (median of the rounds; thread_time around each "
        "stage's functions, the rest of each process's CPU as server_loop_client):"
    )
    print(f"  {'stage':<20}{'adapter':>10}{'integrated floor':>18}{'ratio':>8}")
    stages = clock_stages(adapter)
    for stage in stages:
        theirs = floor.get(stage, 0.0)
        ratio = ratios[stage]
        print(
            f"  {stage:<20}{adapter[stage]:>10.3f}{theirs:>18.3f}"
            + (f"{ratio:>8.2f}" if ratio is not None else f"{'—':>8}")
        )
    total_adapter = sum(adapter[stage] for stage in stages)
    print(
        f"  {'total':<20}{total_adapter:>10.3f}{sum(floor.values()):>18.3f}{ratios['total']:>8.2f}"
    )
    same_code = speed_check(adapter, floor)
    print(
        f"  the same signature code in both servers took {same_code:.2f}x as long in the "
        f"adapter's rounds: the machine's speed between the two phases, or the adapter's cost "
        f"to those calls; adapter / integrated floor with it taken out: "
        f"{ratios['total'] / same_code:.2f}x"
    )
    report_route_parts(adapter)
    print(
        (
            "  ("
            if "route_middleware" in adapter
            else "  (the adapter's server_loop_client holds "
            "its route, middleware and resilience too; "
        )
        + f"its log writes: {adapter['log_writes_loop']:.3f} on the event loop, "
        f"{adapter['log_writes_driver']:.3f} in the driver threads; the clock's own cost "
        f"{adapter['clock_overhead'] * 1000:.1f} µs per lookup = "
        f"{adapter['clock_overhead'] / adapter['process'] * 100:.2f} % of the adapter's CPU)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-mock":
        serve_mock(int(sys.argv[2]), sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-adapter":
        serve_adapter(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="adapter processes (serve --workers N)",
    )
    parser.add_argument(
        "--redis",
        action="store_true",
        help="remember nonces in the local Redis (127.0.0.1:6379/14) instead of in this process "
        "or the workers' shared-memory table; Redis's CPU is then counted too",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="the adapter's store (SQLAlchemy URL); a fresh SQLite file when absent",
    )
    parser.add_argument(
        "--clock-detail",
        action="store_true",
        help="split the adapter's route and middleware from its server, loop and client on its "
        "stage clock (bench/adapter_clocked.py; about doubles the clock's own cost, printed)",
    )
    parser.add_argument(
        "--clock-parts",
        default="",
        help="with --clock-detail, only these parts of route_middleware (comma-separated, "
        "bench/adapter_clocked.py ROUTE_PARTS): fewer wrappers, less of the clock's cost in them",
    )
    args = parser.parse_args()
    if args.clock_parts:
        os.environ[DETAIL_PARTS] = args.clock_parts
    if args.clock_detail:  # the adapter's environment is this process's, its settings added
        os.environ[DETAIL] = "1"
    measurement = run(
        args.calls, args.concurrency, args.rounds, args.workers, args.database_url, args.redis
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it on Linux
        result = asyncio.run(measurement)
    else:
        result = uvloop.run(measurement)
    report(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
