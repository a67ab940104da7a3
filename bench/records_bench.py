"""Watched records: refresh rate and bulk-verify rate against the mocks, signed both ways.

Run: ``.venv/bin/python bench/records_bench.py [--citizens N] [--businesses M] [--concurrency C]``

It starts the mock national endpoints in a separate process (one uvicorn worker, a fresh
development PKI, signatures required), builds the population and registry connectors as
``lienthong serve`` does (every request signed, every reply verified, exchanges written to the
message log) and a SQLite store, watches every citizen and business the mock holds, then measures
in one run, so that noise cancels out:

1. **direct** — the same reads through the connectors alone (no store, no diff; both upstreams
   side by side with the same concurrency each, as the refresh reads them): records/s;
2. **refresh, first pass** — baseline snapshots (first sight records no event): records/s;
3. **refresh, 10 % changed** — a tenth of the records changed in the mock first (citizens moved,
   businesses dissolved): records/s and the change events recorded (must equal the changes);
   direct and refresh runs alternate for ``--rounds`` rounds and the medians are kept (the
   machine is shared: single runs are noisy);
4. **bulk verify** — one verify-citizen per row (a third with a wrong name) through
   ``watches.verify`` against the bare ``verify_citizen`` calls: rows/s;

and the ratios refresh/direct and bulk-verify/direct (what the store, diff and bookkeeping cost).
No rate budget is applied here: in production the per-upstream budget is the limit. Figures are
printed and written to ``bench/results/records.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from harness import free_port, start_child  # noqa: E402

import store.tables  # noqa: E402, F401 - registers every table
from connectors.base import CallContext  # noqa: E402
from lienthong.bootstrap import upstream_connectors  # noqa: E402
from lienthong.settings import Settings  # noqa: E402
from security.pki import init_dev_pki  # noqa: E402
from store.db import create_engine, create_sessionmaker  # noqa: E402
from store.metadata import metadata  # noqa: E402
from store.watches.changes import count_changes  # noqa: E402
from store.watches.types import Watch, WatchKind  # noqa: E402
from store.watches.watch_list import put_watch  # noqa: E402
from watches.files import SourceRow  # noqa: E402
from watches.refresh import RefreshReport, RefreshSettings, WatchRefresher  # noqa: E402
from watches.verify import summarise, verify_rows  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "records.json"
OFFICIAL = "VN001085000123"
ISSUE = "000.00.04.H04-261126-0001"


def serve_mock(port: int, keys: str, citizens: int, businesses: int) -> None:
    """Child process: serve the mock endpoints on 127.0.0.1:port (one worker, signed only)."""
    import uvicorn

    from mock_endpoints.app import create_mock_app
    from mock_endpoints.settings import MockSettings

    settings = MockSettings(keys_dir=Path(keys), citizens=citizens, businesses=businesses)
    uvicorn.run(
        create_mock_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


def start_mock(keys: Path, citizens: int, businesses: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = ["--serve-mock", str(port), str(keys), str(citizens), str(businesses)]
    return start_child(__file__, args, port), port


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float]:
    """``work()``'s result, its wall time and this process's CPU time (seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = await work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


async def bounded(calls: Sequence[Callable[[], Awaitable[Any]]], concurrency: int) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with semaphore:
            await call()

    await asyncio.gather(*(one(call) for call in calls))


async def run(citizens: int, businesses: int, concurrency: int, rounds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="records-bench-"))
    keys = work / "keys"
    init_dev_pki(keys)
    process, port = start_mock(keys, citizens, businesses)
    try:
        return await measure(work, keys, port, concurrency, rounds)
    finally:
        process.terminate()
        process.wait(timeout=10)


async def measure(
    work: Path, keys: Path, port: int, concurrency: int, rounds: int
) -> dict[str, Any]:
    settings = Settings(sandbox=True, keys_dir=keys, data_dir=work / "data", mock_port=port)
    (work / "data").mkdir()
    mock = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=mock, timeout=30) as admin:
        people = (await admin.get("/_admin/population/citizens?limit=all")).json()["citizens"]
        firms = (await admin.get("/_admin/registry/businesses?limit=all")).json()["businesses"]
    engine = create_engine(settings.resolved_database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    sessions = create_sessionmaker(engine)
    now = dt.datetime.now(dt.UTC)
    async with sessions.begin() as session:
        for person in people:
            watch = Watch(WatchKind.CITIZEN, person["citizen_id"], "province-app", ISSUE, OFFICIAL)
            await put_watch(session, watch, now=now)
        for firm in firms:
            watch = Watch(WatchKind.BUSINESS, firm["tax_code"], "province-app", "")
            await put_watch(session, watch, now=now)
    records = len(people) + len(firms)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "watched": {"citizens": len(people), "businesses": len(firms)},
        "concurrency": concurrency,
    }
    try:
        async with upstream_connectors(settings) as (population, registry):

            def ctx() -> CallContext:
                return CallContext.new("province-app", user_id=OFFICIAL, issue=ISSUE)

            citizen_reads = [
                (lambda p=p: population.get_citizen(p["citizen_id"], ctx())) for p in people
            ]
            business_reads = [
                (lambda f=f: registry.get_business(f["tax_code"], ctx())) for f in firms
            ]

            async def direct() -> None:
                # as the refresh does: both upstreams side by side, ``concurrency`` each
                await asyncio.gather(
                    bounded(citizen_reads, concurrency), bounded(business_reads, concurrency)
                )

            await bounded(citizen_reads[:10] + business_reads[:10], concurrency)  # warm up
            refresher = WatchRefresher(
                sessions,
                population=population,
                registry=registry,
                settings=RefreshSettings(batch_size=50, concurrency=concurrency),
            )
            first, wall, cpu = await timed(refresher.run_once)
            results["refresh_first_pass"] = {**_rate(records, wall, cpu), **_report(first)}
            direct_runs, refresh_runs = [], []
            changed = changes = 0
            for round_ in range(rounds):
                _, wall, cpu = await timed(direct)
                direct_runs.append(_rate(records, wall, cpu))
                changed += await _change_a_tenth(mock, people, firms, round_)
                done, wall, cpu = await timed(refresher.run_once)
                refresh_runs.append(_rate(records, wall, cpu))
                changes += done.changes
            results["direct"] = _median(direct_runs)
            results["refresh_with_changes"] = {
                **_median(refresh_runs),
                "rounds": rounds,
                "changed_in_mock": changed,
                "change_events": changes,
            }
            async with sessions() as session:
                results["refresh_with_changes"]["events_in_feed"] = await count_changes(session)

            rows = [
                SourceRow(
                    index + 2,
                    {
                        "citizen_id": p["citizen_id"],
                        "full_name": p["full_name"] + (" X" if index % 3 == 0 else ""),
                        "date_of_birth": p["date_of_birth"],
                    },
                )
                for index, p in enumerate(people)
            ]
            calls = [
                (
                    lambda p=p: population.verify_citizen(
                        p["citizen_id"],
                        p["full_name"],
                        dt.date.fromisoformat(p["date_of_birth"]),
                        ctx(),
                    )
                )
                for p in people
            ]
            direct_runs, bulk_runs = [], []
            for _ in range(rounds):
                _, wall, cpu = await timed(lambda: bounded(calls, concurrency))
                direct_runs.append(_rate(len(calls), wall, cpu))
                verdicts, wall, cpu = await timed(
                    lambda: verify_rows(rows, population, context=ctx, concurrency=concurrency)
                )
                bulk_runs.append(_rate(len(rows), wall, cpu))
            results["verify_direct"] = _median(direct_runs)
            results["bulk_verify"] = {**_median(bulk_runs), **summarise(verdicts)}
    finally:
        await engine.dispose()
    direct = results["direct"]["per_second"]
    results["ratios"] = {
        "refresh_first_pass_vs_direct": round(
            results["refresh_first_pass"]["per_second"] / direct, 2
        ),
        "refresh_with_changes_vs_direct": round(
            results["refresh_with_changes"]["per_second"] / direct, 2
        ),
        "bulk_verify_vs_direct_verify": round(
            results["bulk_verify"]["per_second"] / results["verify_direct"]["per_second"], 2
        ),
    }
    return results


def _rate(count: int, wall: float, cpu: float) -> dict[str, float]:
    return {
        "count": count,
        "seconds": round(wall, 3),
        "per_second": round(count / wall, 1),
        "client_cpu_ms_per_record": round(cpu / count * 1000, 3),
    }


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median rate (the machine is shared: single runs are noisy)."""
    return dict(sorted(runs, key=lambda run: run["per_second"])[len(runs) // 2])


def _report(report: RefreshReport) -> dict[str, Any]:
    return {"checked": report.checked, "changes": report.changes, "finished": report.finished}


async def _change_a_tenth(mock: str, people: list[Any], firms: list[Any], round_: int) -> int:
    """Move every tenth citizen and flip every tenth business's status; how many changed."""
    changed = 0
    async with httpx.AsyncClient(base_url=mock, timeout=30) as admin:
        for person in people[::10]:
            response = await admin.patch(
                f"/_admin/population/citizens/{person['citizen_id']}",
                json={"permanent_address": f"Số {round_}-{changed}, đường Bench, Hà Nội"},
            )
            response.raise_for_status()
            changed += 1
        for firm in firms[::10]:
            status = "dissolved" if round_ % 2 == 0 else "active"
            if round_ == 0 and firm["status"] == "dissolved":
                status = "suspended"
            response = await admin.patch(
                f"/_admin/registry/businesses/{firm['tax_code']}", json={"status": status}
            )
            response.raise_for_status()
            changed += 1
    return changed


def report(results: dict[str, Any]) -> None:
    print(f"watched: {results['watched']}  concurrency {results['concurrency']}")
    for name in (
        "direct",
        "refresh_first_pass",
        "refresh_with_changes",
        "verify_direct",
        "bulk_verify",
    ):
        item = results[name]
        extra = {k: v for k, v in item.items() if k not in ("count", "seconds", "per_second")}
        print(f"{name:>22}: {item['per_second']:8.1f} /s  {extra}")
    for name, value in results["ratios"].items():
        print(f"{name:>34}: {value:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=300)
    parser.add_argument("--businesses", type=int, default=150)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="medians of this many runs")
    parser.add_argument("--serve-mock", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_mock:
        port, keys, citizens, businesses = args.serve_mock
        serve_mock(int(port), keys, int(citizens), int(businesses))
        return
    results = asyncio.run(run(args.citizens, args.businesses, args.concurrency, args.rounds))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report(results)


if __name__ == "__main__":
    main()
