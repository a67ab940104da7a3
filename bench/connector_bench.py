"""Connector benchmark: what signing, verifying and our choice of tools cost per citizen lookup.

Run: ``.venv/bin/python bench/connector_bench.py [--calls N] [--concurrency C]``

It starts the mock national endpoints in a separate process (one uvicorn worker, a fresh
development PKI, ``allow_unsigned`` so a raw unsigned request is answered too) and measures, in
one run so noise cancels out:

1. **envelope** — building a GetCitizen request envelope with zeep (``create_message``) against
   our lxml builder, and reading the reply with zeep (``process_reply``) against
   ``schemas.wire.population`` (µs per message, in this process);
2. **transport** — the same unsigned envelope POSTed through ``AiohttpTransport`` and
   ``HttpxTransport``: client CPU per request and throughput;
3. **lookup** — a signed citizen lookup through ``PopulationConnector`` (sign, send, verify the
   reply's signature, check the X-Road echo and ``requestHash``, map to ``Citizen``) against a
   raw unsigned POST of the same envelope to the same mock over the same kind of session: calls
   per second, p50/p99 latency, client CPU per call, and the ratios.

Client CPU is this process's CPU time (the mock runs in its own process). Figures are printed
and written to ``bench/results/connectors.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
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
from harness import free_port, start_child  # noqa: E402
from lxml import etree  # noqa: E402

from connectors.base import CallContext, RetrySettings, Timeouts, UpstreamConfig  # noqa: E402
from connectors.population import PopulationConnector, population_contract  # noqa: E402
from connectors.transport import (  # noqa: E402
    AiohttpTransport,
    HttpResponse,
    HttpxTransport,
    Transport,
)
from schemas.wire import population as wire  # noqa: E402
from schemas.wire.xroad import XRoadHeader  # noqa: E402
from security.keys import load_party  # noqa: E402
from security.trust import TrustStore  # noqa: E402
from security.wsse import verify_envelope  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "connectors.json"
OFFICIAL = "VN001090000001"
DOSSIER = "000.00.04.H04-261126-0007"


# ------------------------------------------------------------------------------ the mock


def serve_mock(port: int, keys: str) -> None:
    """Child process: serve the mock endpoints on 127.0.0.1:port (one worker)."""
    import uvicorn

    from mock_endpoints.app import create_mock_app
    from mock_endpoints.settings import MockSettings

    app = create_mock_app(MockSettings(keys_dir=Path(keys), allow_unsigned=True))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_mock(keys: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = start_child(__file__, ["--serve-mock", str(port), str(keys)], port, timeout=30)
    return process, f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------------------ helpers


def per_call_us(function: Callable[[], object], *, seconds: float = 0.5) -> float:
    """Mean µs per call of ``function`` over about ``seconds``."""
    function()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(50):
            function()
        count += 50
    return (time.perf_counter() - started) / count * 1e6


async def drive(
    call: Callable[[], Awaitable[object]], calls: int, concurrency: int
) -> dict[str, float]:
    """Run ``calls`` calls, ``concurrency`` at a time; throughput, latency and client CPU."""
    latencies: list[float] = []
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    latencies.sort()
    return {
        "calls": calls,
        "per_second": calls / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "client_cpu_ms_per_call": cpu / calls * 1000,
    }


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the highest throughput (the least disturbed by other work)."""
    return max(runs, key=lambda run: run["per_second"])


# ------------------------------------------------------------------------------ sections


def envelope_costs(connector: PopulationConnector, citizen_id: str) -> dict[str, float]:
    """zeep against lxml for building the request and reading the reply."""
    contract = connector.contract
    ctx = CallContext.new("bench", user_id=OFFICIAL, issue=DOSSIER)
    header = connector.header_for("GetCitizen", ctx)
    headers = {
        "client": {
            "objectType": "SUBSYSTEM",
            "xRoadInstance": "VN",
            "memberClass": "GOV",
            "memberCode": header.client.member_code,
            "subsystemCode": header.client.subsystem_code,
        },
        "service": {
            "objectType": "SERVICE",
            "xRoadInstance": "VN",
            "memberClass": "GOV",
            "memberCode": header.service.member_code,
            "subsystemCode": header.service.subsystem_code,
            "serviceCode": "GetCitizen",
            "serviceVersion": "v1",
        },
        "id": ctx.message_id,
        "userId": OFFICIAL,
        "issue": DOSSIER,
        "protocolVersion": "4.0",
    }

    def zeep_build() -> bytes:
        envelope = contract.serialize("GetCitizen", citizenId=citizen_id, _soapheaders=headers)
        return etree.tostring(envelope)

    def lxml_build() -> bytes:
        payload = wire.build_get_citizen_request(citizen_id)
        return etree.tostring(connector.envelope(header, payload))

    def sign() -> bytes:
        return connector.sign(
            connector.envelope(header, wire.build_get_citizen_request(citizen_id))
        )

    return {
        "zeep_build_us": per_call_us(zeep_build),
        "lxml_build_us": per_call_us(lxml_build),
        "lxml_build_and_sign_us": per_call_us(sign),
    }


def reply_costs(
    connector: PopulationConnector, header: XRoadHeader, signed: bytes, reply: HttpResponse
) -> dict[str, float]:
    """zeep against ``schemas.wire.population`` for reading a GetCitizen reply, and what
    checking the reply costs: the WS-Security verification, then the whole ``read_reply``."""
    envelope = etree.fromstring(reply.body)
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert body is not None
    element = body[0]
    operation = connector.contract.client.service._binding._operations["GetCitizen"]
    soap_operation = connector.contract.operation("GetCitizen")
    return {
        "zeep_read_us": per_call_us(lambda: operation.process_reply(envelope)),
        "lxml_read_us": per_call_us(lambda: wire.read_get_citizen_response(element)),
        "verify_envelope_us": per_call_us(
            lambda: verify_envelope(reply.body, connector.trust, expected_party="population")
        ),
        "read_reply_us": per_call_us(
            lambda: connector.read_reply(soap_operation, header, signed, reply, header.message_id)
        ),
    }


async def transport_costs(
    url: str, envelope: bytes, calls: int, concurrency: int, rounds: int
) -> dict[str, Any]:
    """aiohttp against httpx for POSTing the same unsigned envelope."""
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '"urn:vn:csdlqgdc:population:1.0#GetCitizen"',
    }
    transports: dict[str, Transport] = {
        "aiohttp": AiohttpTransport("population", max_connections=concurrency),
        "httpx": HttpxTransport("population", max_connections=concurrency),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in transports}
    try:
        for _ in range(rounds):
            for name, transport in transports.items():

                async def call(t: Transport = transport) -> None:
                    response = await t.post(url, envelope, headers, 10.0)
                    assert response.status == 200, response.status

                await drive(call, concurrency * 4, concurrency)  # warm the pool
                runs[name].append(await drive(call, calls, concurrency))
    finally:
        for transport in transports.values():
            await transport.aclose()
    result: dict[str, Any] = {name: best(found) for name, found in runs.items()}
    result["httpx_over_aiohttp_client_cpu"] = (
        result["httpx"]["client_cpu_ms_per_call"] / result["aiohttp"]["client_cpu_ms_per_call"]
    )
    return result


async def lookup_costs(
    connector: PopulationConnector,
    url: str,
    citizen_id: str,
    calls: int,
    concurrency: int,
    rounds: int,
) -> dict[str, Any]:
    """Signed lookups through the connector against raw unsigned POSTs of the same envelope."""
    ctx = CallContext.new("bench", user_id=OFFICIAL, issue=DOSSIER)
    unsigned = etree.tostring(
        connector.envelope(
            connector.header_for("GetCitizen", ctx), wire.build_get_citizen_request(citizen_id)
        )
    )
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '"urn:vn:csdlqgdc:population:1.0#GetCitizen"',
    }
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

    async def direct() -> None:
        async with session.post(url, data=unsigned, headers=headers) as response:
            await response.read()
            assert response.status == 200, response.status

    async def signed() -> None:
        context = CallContext(str(uuid.uuid4()), "bench", OFFICIAL, DOSSIER)
        citizen = await connector.get_citizen(citizen_id, context)
        assert citizen.citizen_id == citizen_id

    runs: dict[str, list[dict[str, float]]] = {"direct_unsigned": [], "connector_signed": []}
    try:
        for _ in range(rounds):
            for name, call in (("direct_unsigned", direct), ("connector_signed", signed)):
                await drive(call, concurrency * 4, concurrency)
                runs[name].append(await drive(call, calls, concurrency))
    finally:
        await session.close()
    result: dict[str, Any] = {name: best(found) for name, found in runs.items()}
    direct_run, signed_run = result["direct_unsigned"], result["connector_signed"]
    result["throughput_ratio"] = signed_run["per_second"] / direct_run["per_second"]
    result["client_cpu_ratio"] = (
        signed_run["client_cpu_ms_per_call"] / direct_run["client_cpu_ms_per_call"]
    )
    result["added_client_cpu_ms_per_call"] = (
        signed_run["client_cpu_ms_per_call"] - direct_run["client_cpu_ms_per_call"]
    )
    return result


# ------------------------------------------------------------------------------ main


async def run(calls: int, concurrency: int, rounds: int) -> dict[str, Any]:
    from security.pki import init_dev_pki

    keys = Path(tempfile.mkdtemp(prefix="lienthong-bench-keys-"))
    init_dev_pki(keys)
    process, base = start_mock(keys)
    try:
        url = f"{base}/population/soap"
        catalogue = f"{base}/_admin/population/citizens?limit=1"
        async with aiohttp.ClientSession() as session, session.get(catalogue) as answer:
            citizen_id = (await answer.json())["citizens"][0]["citizen_id"]
        config = UpstreamConfig(
            name="population",
            base_url=url,
            timeouts=Timeouts(connect=2.0, attempt=10.0),
            retry=RetrySettings(attempts=1, deadline=20.0),
            max_concurrency=concurrency,
        )
        connector = PopulationConnector(
            config,
            credentials=load_party(keys, "adapter"),
            trust=TrustStore.from_pem_file(keys / "ca" / "cert.pem"),
            member_code="H04",
            contract=population_contract(),
        )
        try:
            ctx = CallContext.new("bench", user_id=OFFICIAL, issue=DOSSIER)
            await connector.get_citizen(citizen_id, ctx)
            probe = connector.transport
            header = connector.header_for("GetCitizen", ctx)
            signed_request = connector.sign(
                connector.envelope(header, wire.build_get_citizen_request(citizen_id))
            )
            reply = await probe.post(
                url,
                signed_request,
                {"Content-Type": "text/xml; charset=utf-8"},
                10.0,
            )
            envelope = envelope_costs(connector, citizen_id)
            envelope.update(reply_costs(connector, header, signed_request, reply))
            envelope["zeep_over_lxml_build"] = envelope["zeep_build_us"] / envelope["lxml_build_us"]
            envelope["zeep_over_lxml_read"] = envelope["zeep_read_us"] / envelope["lxml_read_us"]
            unsigned = etree.tostring(
                connector.envelope(
                    connector.header_for("GetCitizen", ctx),
                    wire.build_get_citizen_request(citizen_id),
                )
            )
            transport = await transport_costs(url, unsigned, calls, concurrency, rounds)
            lookup = await lookup_costs(connector, url, citizen_id, calls, concurrency, rounds)
        finally:
            await connector.aclose()
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {
        "benchmark": "connectors",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "settings": {"calls": calls, "concurrency": concurrency, "rounds": rounds},
        "envelope": envelope,
        "transport": transport,
        "lookup": lookup,
        "choice": {
            "transport": "aiohttp",
            "hot_path": "lxml builders and readers (schemas.wire.population); zeep binds the "
            "WSDL once at start-up",
        },
    }


def report(results: dict[str, Any]) -> None:
    e, t, lookup = results["envelope"], results["transport"], results["lookup"]
    print("connector benchmark (client CPU is this process; the mock runs in its own)")
    print(
        f"  envelope build : zeep {e['zeep_build_us']:.0f} µs, lxml {e['lxml_build_us']:.0f} µs "
        f"(zeep/lxml {e['zeep_over_lxml_build']:.1f}x); lxml + WS-Security sign "
        f"{e['lxml_build_and_sign_us']:.0f} µs"
    )
    print(
        f"  reply read     : zeep {e['zeep_read_us']:.0f} µs, lxml {e['lxml_read_us']:.0f} µs "
        f"(zeep/lxml {e['zeep_over_lxml_read']:.1f}x); WS-Security verify "
        f"{e['verify_envelope_us']:.0f} µs; whole reply check {e['read_reply_us']:.0f} µs"
    )
    for name in ("aiohttp", "httpx"):
        run = t[name]
        print(
            f"  transport {name:7}: {run['per_second']:7.0f} req/s, client CPU "
            f"{run['client_cpu_ms_per_call']:.3f} ms/req, p99 {run['p99_ms']:.1f} ms"
        )
    print(f"  httpx/aiohttp client CPU: {t['httpx_over_aiohttp_client_cpu']:.2f}x")
    for name in ("direct_unsigned", "connector_signed"):
        run = lookup[name]
        print(
            f"  lookup {name:16}: {run['per_second']:7.0f} calls/s, client CPU "
            f"{run['client_cpu_ms_per_call']:.3f} ms/call, p50 {run['p50_ms']:.1f} ms, "
            f"p99 {run['p99_ms']:.1f} ms"
        )
    print(
        f"  signed/direct throughput: {lookup['throughput_ratio']:.2f}; client CPU "
        f"{lookup['client_cpu_ratio']:.2f}x (+{lookup['added_client_cpu_ms_per_call']:.3f} ms/call)"
    )
    print(f"  written to {RESULTS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve-mock", nargs=2, metavar=("PORT", "KEYS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_mock:
        serve_mock(int(args.serve_mock[0]), args.serve_mock[1])
        return
    results = asyncio.run(run(args.calls, args.concurrency, args.rounds))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report(results)


if __name__ == "__main__":
    main()
