"""Inter-agency chains through the mock agency systems: throughput with faults and a SIGKILL,
and the time from filing to the last step with the mocks answering at once.

    python bench/chains_bench.py [--chains 200] [--latency-chains 20] [--database-url URL]

Phase 1 (latency): one chain at a time is filed while an in-process chain worker runs; the time
from the filing's commit to the chain's completion (three agencies, each answering at once).
Phase 2 (throughput): ``--chains`` chains are filed, then ``lienthong chains work`` processes
deliver them while the civil-status system fails a share of calls, the residence system drops a
share of its answers after applying them, and the social-security system is down for the first
seconds; the first worker is killed with SIGKILL and a second one started. Reported: chains
completed per second, chains lost (not completed) and requests doubled at the agencies (one
reference received twice) — both must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from harness import ROOT, free_port, start_child

from chains.intake import ChainFiling, take_in
from chains.runtime import ChainOptions, ChainRuntime, build_agencies, sandbox_agency_urls
from chains.views import chain_counts
from chains.worker import ChainWorkerSettings
from connectors.base import Timeouts
from connectors.factory import ConnectorsConfig
from schemas.times import VN_TZ
from security.pki import init_dev_pki
from store.db import create_engine, create_sessionmaker, normalize_url, upgrade_async
from store.tables.chains import chain_dossiers


def _filing(serial: int, mother: str, received: dt.datetime) -> ChainFiling:
    return ChainFiling(
        chain_id="birth-residence-card",
        dossier_code=f"000.00.04.H04-{received.strftime('%y%m%d')}-{serial:04d}",
        agency_code="000.00.04.H04",
        applicant_name="Người Nộp Thử",
        applicant_id=mother,
        received_at=received,
        subject={
            "child_full_name": "Phạm Thị Bé",
            "child_date_of_birth": "2026-12-01",
            "child_sex": "female",
            "mother_id": mother,
            "address": "Số 9 Đường Thử, Hà Nội",
        },
    )


async def _file(runtime: ChainRuntime, filing: ChainFiling) -> None:
    async with runtime.queue.sessions() as session, session.begin():
        await take_in(session, runtime.definitions[filing.chain_id], filing, runtime.calendar)


async def _state(runtime: ChainRuntime, code: str) -> str | None:
    async with runtime.queue.sessions() as session:
        return await session.scalar(
            chain_dossiers.select()
            .with_only_columns(chain_dossiers.c.state)
            .where(chain_dossiers.c.dossier_code == code)
        )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="chains_bench_"))
    keys = work / "keys"
    init_dev_pki(keys)
    port = free_port()
    mock = start_child(
        "-m",
        ["lienthong.cli", "mock", "serve", "--port", str(port), "--keys", str(keys)],
        port,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    admin = httpx.Client(base_url=base, timeout=30)
    url = args.database_url or normalize_url(work / "data")
    await upgrade_async(url)
    engine = create_engine(url)
    config = ConnectorsConfig.sandbox(base, keys, timeouts=Timeouts(connect=1.0, attempt=1.0))
    agencies = build_agencies(config, sandbox_agency_urls(base))
    options = ChainOptions(
        poll_interval=dt.timedelta(seconds=0.5),
        worker=ChainWorkerSettings(idle_poll=0.005, lease=dt.timedelta(seconds=5)),
    )
    runtime = ChainRuntime.build(create_sessionmaker(engine), agencies, options)
    mother = admin.get("/_admin/population/citizens?limit=1").json()["citizens"][0]["citizen_id"]
    received = dt.datetime.now(VN_TZ).replace(microsecond=0)
    figures: dict[str, Any] = {"database": engine.dialect.name}
    try:
        # --- phase 1: filing to last step, mocks answering at once --------------------------
        stop = asyncio.Event()
        worker = asyncio.create_task(runtime.worker().run(stop))
        latencies = []
        for serial in range(1, args.latency_chains + 1):
            filing = _filing(serial, mother, received)
            started = time.perf_counter()
            await _file(runtime, filing)
            while await _state(runtime, filing.dossier_code) != "completed":
                await asyncio.sleep(0.002)
            latencies.append(time.perf_counter() - started)
        stop.set()
        await worker
        latencies.sort()
        figures["filing_to_last_step_ms"] = {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p95": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        }
        # --- phase 2: throughput across faults and a SIGKILL ---------------------------------
        admin.delete("/_admin/agencies").raise_for_status()
        first = args.latency_chains + 1
        for serial in range(first, first + args.chains):
            await _file(runtime, _filing(serial, mother, received))
        admin.put("/_admin/faults/civil-status", json={"error_rate": 0.1}).raise_for_status()
        admin.put(
            "/_admin/faults/residence", json={"drop_after_commit": 0.05, "stall_seconds": 2}
        ).raise_for_status()
        admin.put("/_admin/faults/social-security", json={"outage": True}).raise_for_status()
        env = {
            **os.environ,
            "LIENTHONG_SANDBOX": "true",
            "LIENTHONG_KEYS_DIR": str(keys),
            "LIENTHONG_DATA_DIR": str(work / "data"),
            "LIENTHONG_MOCK_PORT": str(port),
            "LIENTHONG_CHAIN_LEASE_SECONDS": "3",
            "LIENTHONG_CHAIN_POLL_SECONDS": "0.5",
            "LIENTHONG_UPSTREAM_ATTEMPT_TIMEOUT": "1",
        }
        if args.database_url:
            env["LIENTHONG_DATABASE_URL"] = args.database_url
        command = [sys.executable, "-m", "lienthong.cli", "chains", "work"]
        started = time.perf_counter()
        killed = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        await asyncio.sleep(args.kill_after)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        second = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        await asyncio.sleep(max(0.0, args.outage - args.kill_after))
        admin.delete("/_admin/faults").raise_for_status()
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            async with runtime.queue.sessions() as session:
                counts = await chain_counts(session)
            if counts.chains.get("completed", 0) >= args.latency_chains + args.chains:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
        summary = admin.get("/_admin/agencies").json()["agencies"]
        completed = counts.chains.get("completed", 0) - args.latency_chains
        figures.update(
            chains=args.chains,
            completed=completed,
            lost=args.chains - completed,
            doubled=sum(a["doubled"] for a in summary),
            seconds=round(elapsed, 2),
            chains_per_second=round(completed / elapsed, 1),
            outage_seconds=args.outage,
            killed_after_seconds=args.kill_after,
        )
    finally:
        for agency in agencies.values():
            await agency.aclose()
        await engine.dispose()
        admin.close()
        mock.send_signal(signal.SIGTERM)
        mock.wait(timeout=30)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=200)
    parser.add_argument("--latency-chains", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--kill-after", type=float, default=1.5)
    parser.add_argument("--outage", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
