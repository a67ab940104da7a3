"""A lookup's two log records, in one process without the server: CPU per lookup.

Run: ``python bench/log_writes_bench.py``. Writes what a signed citizen lookup writes — its
message-log record and its access-log row, committed together (``store.logs.LookupLogs``) — for
``--lookups`` lookups, ``--in-flight`` at a time, on a fresh SQLite file, and prints the CPU per
lookup of the whole process and of its event-loop thread alone (the rest is SQLite's driver
thread). It isolates the "log writes" stage of ``bench/adapter_bench.py``'s profile from the
server's load. The certificates are passed on as the connectors pass them, so no envelope is
parsed for its signer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from harness import ROOT  # noqa: F401 - puts the repository on sys.path

from connectors.exchange import Exchange
from security.pki import init_dev_pki
from store.access_log import AccessLogEntry
from store.db import create_engine, upgrade_async
from store.log_keys import message_log_key
from store.logs import LookupLogs
from store.message_log import BodyCipher
from store.message_log.signers import envelope_certificate
from tests.support.message_log import make_soap_exchange

WARM_UP = 200


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(lookups: int, in_flight: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="lienthong-log-bench-"))
    keys = folder / "keys"
    init_dev_pki(keys)
    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    await upgrade_async(url)
    engine = create_engine(url)
    logs = LookupLogs(engine, BodyCipher(message_log_key(keys)), os.urandom(32))
    exchange = make_soap_exchange(keys)
    assert exchange.response is not None
    exchange = replace(
        exchange,
        request_certificate=envelope_certificate(exchange.request),
        response_certificate=envelope_certificate(exchange.response),
    )
    entry = AccessLogEntry(
        citizen_id="001090000001",
        client_id="province-app",
        organisation="UBND tỉnh Hà Giang",
        official="VN001090000001",
        dossier_code="000.00.04.H04-261126-0001",
        operation="GetCitizen",
        fields=("citizen_id", "full_name"),
    )
    records = [
        (replace(exchange, message_id=m), replace(entry, message_id=m))
        for m in (str(uuid.uuid4()) for _ in range(WARM_UP + lookups))
    ]
    slots = asyncio.Semaphore(in_flight)

    async def lookup(record: tuple[Exchange, AccessLogEntry]) -> None:
        async with slots, logs.together():
            await logs.message_log.record(record[0])
            await logs.access_log.record(record[1])

    await asyncio.gather(*(lookup(r) for r in records[:WARM_UP]))
    transactions = logs.transactions
    loop_start, process_start = time.thread_time(), _process_cpu()
    await asyncio.gather(*(lookup(r) for r in records[WARM_UP:]))
    loop_cpu, process_cpu = time.thread_time() - loop_start, _process_cpu() - process_start
    figures = {
        "cpu_ms_per_lookup": 1000 * process_cpu / lookups,
        "event_loop_thread_ms_per_lookup": 1000 * loop_cpu / lookups,
        "lookups_per_transaction": lookups / max(1, logs.transactions - transactions),
    }
    await logs.aclose()
    await engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=8)
    args = parser.parse_args()
    figures = asyncio.run(_measure(args.lookups, args.in_flight))
    print(
        f"log writes per lookup ({args.lookups} lookups, {args.in_flight} in flight, SQLite): "
        f"{figures['cpu_ms_per_lookup']:.3f} ms CPU, of which the event-loop thread "
        f"{figures['event_loop_thread_ms_per_lookup']:.3f} ms; "
        f"{figures['lookups_per_transaction']:.1f} lookups per transaction"
    )


if __name__ == "__main__":
    main()
