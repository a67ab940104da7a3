"""Adapter benchmark: signed citizen lookups through the adapter against direct unsigned calls.

Run: ``.venv/bin/python bench/adapter_bench.py [--calls N] [--concurrency C] [--rounds R]``

Three processes on this machine, in one run so noise cancels out:

* the **mock** national endpoints (one uvicorn worker, a fresh development PKI, ``allow_unsigned``
  so a raw unsigned SOAP request is answered too — replies are signed either way);
* the **adapter** (one uvicorn worker, as ``lienthong serve --no-sandbox`` wires it: clients
  file, SQLite store, message log and access log written for every lookup);
* this process, the **load generator** (aiohttp, ``C`` requests in flight).

Two paths are driven alternately, ``R`` rounds of ``N`` calls each:

* **direct** — the GetCitizen SOAP envelope POSTed unsigned straight to the mock;
* **adapter** — ``GET /v1/citizens/{id}`` with ``X-User-Id``/``X-Issue``, signed (RFC 9421) by
  ``province-app``; the adapter verifies it, checks the purpose, signs the SOAP request
  (WS-Security), verifies the signed reply, logs the exchange and the access, signs its answer;
  this process verifies the adapter's signature on every answer.

Reported: calls per second of each path (best round) and their ratio (the goal is at least 0.5;
X-Road's one published field report is 110 TPS through the gateway against 1000 direct: 0.11),
p50/p99 latency, CPU per call of each process, and the adapter's peak memory (VmHWM) and RSS
before and after the load. Written to ``bench/results/adapter.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import socket
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

import aiohttp  # noqa: E402
from lxml import etree  # noqa: E402

from schemas.wire import population as wire  # noqa: E402
from schemas.wire.xroad import (  # noqa: E402
    XRoadClient,
    XRoadHeader,
    XRoadService,
    build_header_elements,
)
from security.http_signatures import (  # noqa: E402
    HttpSigner,
    HttpVerifier,
    RequestView,
    TrustedKeyDirectory,
)
from security.keys import load_party  # noqa: E402
from security.trust import TrustStore  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "adapter.json"
OFFICIAL = "VN001090000001"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
GOAL = 0.5
XROAD_FIELD_RATIO = 110 / 1000


# ------------------------------------------------------------------------------ child processes


def serve_mock(port: int, keys: str) -> None:
    """Child process: the mock endpoints on 127.0.0.1:port (one worker, unsigned accepted)."""
    import uvicorn

    from mock_endpoints.app import create_mock_app
    from mock_endpoints.settings import MockSettings

    app = create_mock_app(MockSettings(keys_dir=Path(keys), allow_unsigned=True))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_adapter(port: int, keys: str, data: str, mock_url: str) -> None:
    """Child process: the adapter wired for production against the mock at ``mock_url``."""
    import uvicorn

    from adapter_api.app import create_app
    from adapter_api.bootstrap import build_container, prepare
    from adapter_api.serve import run_server
    from adapter_api.settings import Settings

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
        clients_file=clients,
        population_url=f"{mock_url}/population/soap",
        registry_url=f"{mock_url}/registry",
        portal_url=f"{mock_url}/portal",
        run_worker=False,
        upstream_attempt_timeout=10.0,
        upstream_deadline=20.0,
    )
    prepare(settings)
    _create_missing_tables(settings.resolved_database_url)
    app = create_app(build_container(settings))
    profile = os.environ.get("LIENTHONG_BENCH_PROFILE")
    if profile:  # where the adapter's CPU goes: cProfile of the event loop's thread
        import cProfile
        import signal

        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
        with cProfile.Profile() as profiler:
            server.run()
        profiler.dump_stats(profile)
        return
    run_server(app, host="127.0.0.1", port=port, log_level="warning")


def _create_missing_tables(url: str) -> None:
    """Tables whose migrations may not exist yet in this checkout (created only if absent)."""
    import store.tables  # noqa: F401 - registers every table
    from store.db import create_engine
    from store.metadata import metadata

    async def create() -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(metadata.create_all, checkfirst=True)
        finally:
            await engine.dispose()

    asyncio.run(create())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, *args], cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{args[0]} did not start")


# ------------------------------------------------------------------------------ /proc figures


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of process ``pid`` in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
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

    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
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
        result[f"cpu_ms_per_call_{name}"] = (cpu_seconds(pid) - cpu_before[name]) / calls * 1000
    return result


def soap_envelope(citizen_id: str, issue: str) -> bytes:
    """An unsigned GetCitizen request envelope, as a provincial system would send it."""
    header = XRoadHeader(
        client=XRoadClient(member_code="H04", subsystem_code="lienthong"),
        service=XRoadService(
            member_code="CSDLQGDC",
            service_code="GetCitizen",
            subsystem_code="population",
            service_version="v1",
        ),
        message_id=str(uuid.uuid4()),
        user_id=OFFICIAL,
        issue=issue,
    )
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soapenv": SOAP_NS})
    head = etree.SubElement(envelope, f"{{{SOAP_NS}}}Header")
    for element in build_header_elements(header):
        head.append(element)
    body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    body.append(wire.build_get_citizen_request(citizen_id))
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


async def run(calls: int, concurrency: int, rounds: int) -> dict[str, Any]:
    from security.pki import init_dev_pki

    work = Path(tempfile.mkdtemp(prefix="lienthong-adapter-bench-"))
    keys, data = work / "keys", work / "data"
    init_dev_pki(keys)
    data.mkdir()
    mock_port, adapter_port = free_port(), free_port()
    mock = start(["--serve-mock", str(mock_port), str(keys)], mock_port)
    mock_url = f"http://127.0.0.1:{mock_port}"
    adapter = start(
        ["--serve-adapter", str(adapter_port), str(keys), str(data), mock_url], adapter_port
    )
    base = f"http://127.0.0.1:{adapter_port}"
    pids = {"adapter": adapter.pid, "mock": mock.pid}
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    signer = HttpSigner(load_party(keys, "province-app"), ttl=60)
    verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), None)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency * 2))
    try:
        return await _measure(
            session, signer, verifier, base, mock_url, pids, calls, concurrency, rounds
        )
    finally:
        await session.close()
        for process in (adapter, mock):
            process.terminate()
            process.wait(timeout=20)


async def _measure(
    session: aiohttp.ClientSession,
    signer: HttpSigner,
    verifier: HttpVerifier,
    base: str,
    mock_url: str,
    pids: dict[str, int],
    calls: int,
    concurrency: int,
    rounds: int,
) -> dict[str, Any]:
    async def signed(method: str, path: str, body: bytes = b"", **headers: str) -> Any:
        url = base + path
        if body:
            headers["content-type"] = "application/json"
        headers.update(signer.sign_request(method, url, headers, body))
        async with session.request(method, url, data=body or None, headers=headers) as answer:
            content = await answer.read()
            verifier.verify_response(
                answer.status,
                dict(answer.headers),
                content,
                request=RequestView(method, url, headers),
                expected_keyid="adapter",
            )
            return answer.status, content

    async with session.get(f"{mock_url}/_admin/population/citizens?limit=50") as answer:
        citizens = [c["citizen_id"] for c in (await answer.json())["citizens"]]
    issue = "000.00.04.H04-261126-0001"
    dossier = {
        "procedure_code": "1.001193",
        "agency_code": "000.00.04.H04",
        "sector_code": "TP.HT",
        "applicant_name": "Nguyễn Văn An",
        "applicant_id": "001085000123",
        "status": 1,
        "received_at": "2026-11-26T08:30:00+07:00",
        "updated_at": "2026-11-26T08:30:00+07:00",
        "title": "Đăng ký khai sinh",
    }
    status, _ = await signed("PUT", f"/v1/dossiers/{issue}", json.dumps(dossier).encode())
    assert status in (200, 201), status

    envelopes = [soap_envelope(random.choice(citizens), issue) for _ in range(512)]
    soap_headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '"urn:vn:csdlqgdc:population:1.0#GetCitizen"',
    }
    counter = 0

    async def direct() -> None:
        nonlocal counter
        counter += 1
        envelope = envelopes[counter % len(envelopes)]
        async with session.post(
            f"{mock_url}/population/soap", data=envelope, headers=soap_headers
        ) as answer:
            await answer.read()
            assert answer.status == 200, answer.status

    async def through_adapter() -> None:
        citizen = random.choice(citizens)
        status, _ = await signed(
            "GET", f"/v1/citizens/{citizen}", **{"X-User-Id": OFFICIAL, "X-Issue": issue}
        )
        assert status == 200, status

    memory_before = memory_kib(pids["adapter"])
    runs: dict[str, list[dict[str, float]]] = {"direct": [], "adapter": []}
    for _ in range(rounds):
        for name, call in (("direct", direct), ("adapter", through_adapter)):
            await drive(call, concurrency * 4, concurrency, pids)  # warm up
            runs[name].append(await drive(call, calls, concurrency, pids))
    memory_after = memory_kib(pids["adapter"])
    best = {name: max(found, key=lambda r: r["per_second"]) for name, found in runs.items()}
    ratio = best["adapter"]["per_second"] / best["direct"]["per_second"]
    return {
        "benchmark": "adapter",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "settings": {"calls": calls, "concurrency": concurrency, "rounds": rounds},
        "direct": best["direct"],
        "adapter": best["adapter"],
        "rounds": runs,
        "throughput_ratio": ratio,
        "goal": GOAL,
        "meets_goal": ratio >= GOAL,
        "xroad_field_ratio": XROAD_FIELD_RATIO,
        "adapter_memory_kib": {
            "rss_before_load": memory_before["VmRSS"],
            "rss_after_load": memory_after["VmRSS"],
            "peak_rss": memory_after["VmHWM"],
        },
    }


def report(result: dict[str, Any]) -> None:
    direct, adapter = result["direct"], result["adapter"]
    memory = result["adapter_memory_kib"]
    print(f"{'path':<10}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'cpu ms/call: load':>20}"
          f"{'adapter':>9}{'mock':>7}")  # fmt: skip
    for name, row in (("direct", direct), ("adapter", adapter)):
        print(
            f"{name:<10}{row['per_second']:>10.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
            f"{row['cpu_ms_per_call_loadgen']:>20.3f}{row['cpu_ms_per_call_adapter']:>9.3f}"
            f"{row['cpu_ms_per_call_mock']:>7.3f}"
        )
    print(
        f"throughput ratio adapter/direct: {result['throughput_ratio']:.2f} "
        f"(goal >= {GOAL}; X-Road field report {XROAD_FIELD_RATIO:.2f})"
    )
    print(
        f"adapter memory: RSS {memory['rss_before_load'] / 1024:.0f} MiB before load, "
        f"{memory['rss_after_load'] / 1024:.0f} MiB after, peak {memory['peak_rss'] / 1024:.0f} MiB"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-mock":
        serve_mock(int(sys.argv[2]), sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-adapter":
        serve_adapter(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(run(args.calls, args.concurrency, args.rounds))
    report(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
