"""Push: webhook deliveries per second to a local receiver, notices per second to the ZNS/SMS
mocks, and nothing lost or doubled across a receiver outage and a SIGKILL of the worker.

Run: ``.venv/bin/python bench/push_bench.py`` (SQLite). Options: ``--dossiers N`` (each
registered and moved through 4 steps: 5 webhook changes, 3 notices), ``--skip-notices``.

Processes on this machine: the mock endpoints (one uvicorn worker: the ministry receiver, which
verifies every delivery's RFC 9421 signature and digest and deduplicates by delivery id, and the
ZNS and SMS mocks); ``lienthong notify run`` (the push workers, as ``lienthong serve`` runs them
beside the API); this process, which preloads the store (dossier writes through
``store.dossier_batch.record_writes``, so deliveries and notices are enqueued as the API
enqueues them) and polls the mocks' admin routes.

1. ``webhooks``: N×5 deliveries preloaded, the clock runs from the worker's start until the
   receiver holds the last one.
2. ``webhooks_faults``: the same with a 2 s receiver outage at a third of the way and a SIGKILL of
   the worker at two thirds (a new worker takes over when the 3 s lease ends). ``lost`` = changes
   never received, ``redelivered`` = deliveries received again under their own id (the ones in
   flight at the kill), ``rejected`` = signatures the receiver refused.
3. ``notices`` and ``notices_faults``: N×3 notices (a quarter of the phones without Zalo: SMS),
   likewise, with the SIGKILL; ``doubled`` = messages the mocks took twice for one tracking id.

Writes bench/results/push.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from harness import cpu_seconds, free_port, start_child  # noqa: E402
from sqlalchemy import delete  # noqa: E402

from push.notices.outbox import SqlNotices  # noqa: E402
from push.webhooks.subscriptions import SqlSubscriptions  # noqa: E402
from schemas.dossier_code import make_dossier_code  # noqa: E402
from schemas.models import Dossier, DossierEvent  # noqa: E402
from schemas.status import DossierStatus  # noqa: E402
from schemas.times import VN_TZ  # noqa: E402
from store.db import create_engine, normalize_url, upgrade  # noqa: E402
from store.dossier_batch import PostEvent, PutDossier, Write, record_writes  # noqa: E402
from store.tables.push import push_notices  # noqa: E402

AGENCY = "000.00.04.H04"
STEPS = (
    DossierStatus.ACCEPTED,
    DossierStatus.PROCESSING,
    DossierStatus.PROCESSED,
    DossierStatus.RESULT_DELIVERED,
)
RESULTS = ROOT / "bench" / "results" / "push.json"


def _code(serial: int) -> str:
    day = dt.date(2026, 1, 1) + dt.timedelta(days=serial // 9000)
    return make_dossier_code(AGENCY, day, serial % 9000 + 1)


def _dossier(serial: int) -> Dossier:
    code = _code(serial)
    received = dt.datetime.combine(
        dt.date(2026, 1, 1) + dt.timedelta(days=serial // 9000), dt.time(8), tzinfo=VN_TZ
    )
    return Dossier(
        code=code,
        procedure_code="1.001193",
        agency_code=AGENCY,
        sector_code="TP.HT",
        applicant_name="Nguyễn Văn Thử",
        applicant_id="001085000123",
        status=DossierStatus.SUBMITTED,
        received_at=received,
        updated_at=received,
        title="Đăng ký khai sinh",
    )


def _phone(serial: int) -> str:
    return f"849{serial:08d}"


async def preload(
    url: str, serials: range, *, hook: str | None, contacts: bool, engine_kw: Any = None
) -> None:
    """Subscribe (when ``hook``), then write each dossier and its steps in batches of 500."""
    engine = create_engine(url)
    try:
        if hook is not None:
            await SqlSubscriptions(engine).create(
                "ministry", hook, allowed_urls={hook}, visible_sectors={"TP.HT"}
            )
        writes: list[Write] = [PutDossier(_dossier(s)) for s in serials]
        for sequence, status in enumerate(STEPS, start=1):
            for s in serials:
                occurred = _dossier(s).received_at + dt.timedelta(hours=sequence)
                writes.append(
                    PostEvent(
                        DossierEvent(
                            dossier_code=_code(s),
                            sequence=sequence,
                            status=status,
                            occurred_at=occurred,
                        )
                    )
                )
        for start in range(0, len(writes), 500):
            async with engine.begin() as connection:
                await record_writes(connection, writes[start : start + 500])
        if contacts:
            notices = SqlNotices(engine)
            for s in serials:
                await notices.set_contact(_code(s), _phone(s), consent=True)
        else:
            async with engine.begin() as connection:
                await connection.execute(delete(push_notices))
    finally:
        await engine.dispose()


class Worker:
    """``lienthong notify run`` in a process of its own."""

    def __init__(self, data: Path, keys: Path, mock_url: str, log: Path) -> None:
        env = {
            **os.environ,
            "LIENTHONG_PUSH_WEBHOOK_LEASE_SECONDS": "3",
            "LIENTHONG_PUSH_QUIET_HOURS": "",
        }
        self.log = log
        self._file = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lienthong.cli",
                "notify",
                "run",
                "--data",
                str(data),
                "--keys",
                str(keys),
                "--mock-url",
                mock_url,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._file,
        )
        deadline = time.monotonic() + 60
        while "push workers running" not in log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text()[-2000:])
            time.sleep(0.01)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._file.close()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self._file.close()


def _received(admin: httpx.Client) -> dict[str, int]:
    data = admin.get("/_admin/ministry/deliveries?limit=0").json()
    return {k: int(data[k]) for k in ("received", "duplicates", "rejected")}


def _messages(admin: httpx.Client) -> tuple[int, int, int, int]:
    """(unique tracking ids, messages, of which ZNS, of which SMS)."""
    zns = admin.get("/_admin/zns/messages").json()["messages"]
    sms = admin.get("/_admin/sms/messages").json()["messages"]
    ids = Counter([m["tracking_id"] for m in zns] + [m["RequestId"] for m in sms])
    return len(ids), len(zns) + len(sms), len(zns), len(sms)


def _run_phase(
    name: str,
    total: int,
    count: Any,
    start_worker: Any,
    admin: httpx.Client,
    *,
    faults: bool,
    upstream: str,
    receiver_pid: int,
) -> dict[str, Any]:
    worker = start_worker(f"{name}-1")
    worker_cpu = 0.0
    receiver_cpu = cpu_seconds(receiver_pid)
    started = time.perf_counter()
    outage_done = killed = False
    deadline = time.monotonic() + 600
    while count() < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: {count()} of {total} after 600 s")
        done = count()
        if faults and not outage_done and done >= total // 3:
            admin.put(f"/_admin/faults/{upstream}", json={"outage": True}).raise_for_status()
            time.sleep(2)
            admin.delete("/_admin/faults").raise_for_status()
            outage_done = True
        if faults and not killed and done >= 2 * total // 3:
            worker_cpu += worker.cpu()
            worker.kill()
            killed = True
            worker = start_worker(f"{name}-2")
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    worker_cpu += worker.cpu()
    receiver_cpu = cpu_seconds(receiver_pid) - receiver_cpu
    worker.stop()
    return {
        "items": total,
        "seconds": round(elapsed, 2),
        "per_second": round(total / elapsed, 1),
        "worker_cpu_ms_per_item": round(1000 * worker_cpu / total, 3),
        "receiver_cpu_ms_per_item": round(1000 * receiver_cpu / total, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1000)
    parser.add_argument("--skip-notices", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "dossiers": args.dossiers,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    with tempfile.TemporaryDirectory(prefix="push-bench-") as tmp:
        root = Path(tmp)
        keys = root / "keys"
        port = free_port()
        mock_url = f"http://127.0.0.1:{port}"
        mock = start_child(
            "-m",
            [
                "lienthong.cli",
                "mock",
                "serve",
                "--port",
                str(port),
                "--keys",
                str(keys),
                "--only",
                "ministry",
                "--only",
                "zns",
                "--only",
                "sms",
                "--citizens",
                "0",
                "--businesses",
                "0",
                "--log-level",
                "warning",
            ],
            port,
        )
        admin = httpx.Client(base_url=mock_url, timeout=30)
        try:
            hook = f"{mock_url}/ministry/webhooks"
            n = args.dossiers
            for phase, faults, first in (("webhooks", False, 0), ("webhooks_faults", True, n)):
                data = root / phase
                url = normalize_url(data)
                upgrade(url)
                asyncio.run(preload(url, range(first, first + n), hook=hook, contacts=False))
                admin.delete("/_admin/ministry/deliveries").raise_for_status()
                total = n * (1 + len(STEPS))

                def start(label: str, data: Path = data) -> Worker:
                    return Worker(data, keys, mock_url, root / f"{label}.log")

                figures = _run_phase(
                    phase,
                    total,
                    lambda: _received(admin)["received"],
                    start,
                    admin,
                    faults=faults,
                    upstream="ministry",
                    receiver_pid=mock.pid,
                )
                got = _received(admin)
                figures |= {
                    "lost": total - got["received"],
                    "redelivered": got["duplicates"],
                    "rejected": got["rejected"],
                }
                results[phase] = figures
                print(phase, figures, flush=True)
            if not args.skip_notices:
                no_zalo = [_phone(s) for s in range(0, 3 * n) if s % 4 == 0]
                for phase, faults, first in (("notices", False, 0), ("notices_faults", True, n)):
                    data = root / phase
                    url = normalize_url(data)
                    upgrade(url)
                    asyncio.run(preload(url, range(first, first + n), hook=None, contacts=True))
                    admin.delete("/_admin/zns/messages").raise_for_status()
                    admin.delete("/_admin/sms/messages").raise_for_status()
                    admin.put("/_admin/zns/config", json={"no_zalo": no_zalo}).raise_for_status()
                    total = n * 3

                    def start(label: str, data: Path = data) -> Worker:
                        return Worker(data, keys, mock_url, root / f"{label}.log")

                    figures = _run_phase(
                        phase,
                        total,
                        lambda: _messages(admin)[0],
                        start,
                        admin,
                        faults=faults,
                        upstream="zns",
                        receiver_pid=mock.pid,
                    )
                    unique, sent, zns, sms = _messages(admin)
                    figures |= {
                        "lost": total - unique,
                        "doubled": sent - unique,
                        "zns": zns,
                        "sms": sms,
                    }
                    results[phase] = figures
                    print(phase, figures, flush=True)
        finally:
            admin.close()
            mock.terminate()
            mock.wait(timeout=30)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
