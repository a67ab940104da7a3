"""Message log: what recording costs, against a bare insert of the same row, on SQLite (and PG).

Run: ``.venv/bin/python bench/message_log_bench.py`` (PostgreSQL too when LIENTHONG_TEST_PG_DSN is
set). Prints appends per second — one caller at a time and 64 at once (group commit) — next to a
plain one-row INSERT per transaction of the same size, the ratios, and how fast ``verify_log``
walks the log (chain only; with bodies and signatures). Writes bench/results/message_log.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from security.pki import init_dev_pki
from security.trust import TrustStore
from store.log_keys import message_log_key
from store.message_log import BodyCipher, SqlMessageLog, verify_log
from tests.support.message_log import log_engine, make_soap_exchange

N = int(os.environ.get("BENCH_N", "600"))
CONCURRENCY = 64

_bare_meta = MetaData()
bare = Table(
    "bench_bare_rows",
    _bare_meta,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(64)),
    Column("request", LargeBinary),
    Column("response", LargeBinary),
)


async def _rate(count: int, work: Any) -> float:
    start = time.perf_counter()
    await work()
    return count / (time.perf_counter() - start)


async def _measure(engine: AsyncEngine, keys: Path) -> dict[str, float]:
    cipher = BodyCipher(message_log_key(keys))
    template = make_soap_exchange(keys)
    exchanges = [replace(template, message_id=str(uuid.uuid4())) for _ in range(N)]
    async with engine.begin() as conn:
        await conn.run_sync(_bare_meta.drop_all)
        await conn.run_sync(_bare_meta.create_all)
    assert template.response is not None
    row = {"request": template.request, "response": template.response}

    async def bare_one(i: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(bare).values(message_id=str(i), **row))

    async def bare_sequential() -> None:
        for i in range(N):
            await bare_one(i)

    async def bare_concurrent() -> None:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            async with semaphore:
                await bare_one(i)

        await asyncio.gather(*(one(i) for i in range(N)))

    log = SqlMessageLog(engine, cipher)

    async def log_sequential() -> None:
        for exchange in exchanges:
            await log.record(exchange)

    async def log_concurrent() -> None:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(exchange: Any) -> None:
            async with semaphore:
                await log.record(exchange)

        await asyncio.gather(*(one(replace(e, message_id=str(uuid.uuid4()))) for e in exchanges))

    figures = {
        "bare_insert_per_s_1": await _rate(N, bare_sequential),
        "append_per_s_1": await _rate(N, log_sequential),
        "bare_insert_per_s_64": await _rate(N, bare_concurrent),
        "append_per_s_64": await _rate(N, log_concurrent),
    }
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")

    async def verify_chain() -> None:
        assert (await verify_log(engine)).intact

    async def verify_full() -> None:
        assert (await verify_log(engine, cipher=cipher, trust=trust)).intact

    figures["verify_chain_records_per_s"] = await _rate(2 * N, verify_chain)
    figures["verify_full_records_per_s"] = await _rate(2 * N, verify_full)
    figures["ratio_append_vs_bare_1"] = figures["append_per_s_1"] / figures["bare_insert_per_s_1"]
    figures["ratio_append_vs_bare_64"] = (
        figures["append_per_s_64"] / figures["bare_insert_per_s_64"]
    )
    async with engine.begin() as conn:
        await conn.run_sync(_bare_meta.drop_all)
    return figures


def _pg_database(base: str) -> tuple[str, Any]:
    import psycopg2

    name = f"lienthong_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return base.rsplit("/", 1)[0] + f"/{name}", drop


async def main() -> None:
    results: dict[str, Any] = {"n": N, "concurrency": CONCURRENCY}
    with tempfile.TemporaryDirectory() as folder:
        keys = Path(folder) / "keys"
        init_dev_pki(keys)
        async with log_engine(Path(folder) / "data") as engine:
            results["sqlite"] = await _measure(engine, keys)
        dsn = os.environ.get("LIENTHONG_TEST_PG_DSN")
        if dsn:
            url, drop = _pg_database(dsn)
            try:
                async with log_engine(url) as engine:
                    results["postgresql"] = await _measure(engine, keys)
            finally:
                drop()
    for store in ("sqlite", "postgresql"):
        if store in results:
            print(f"[{store}]")
            for name, value in results[store].items():
                print(f"  {name:32s} {value:10.2f}")
    out = Path(__file__).resolve().parent / "results" / "message_log.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
