"""``lienthong chains work`` killed with SIGKILL between an agency's answer and its record.

The residence system applies every request and its answers are withheld (the worker waits for
them); the worker process is killed once every residence request has been applied. A new worker
reads each step back at the residence system by its reference: nothing is lost (every chain
completes) and nothing is repeated (each reference reached each agency once).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chains.views import chain_counts
from schemas.times import VN_TZ
from store.db import create_engine, create_sessionmaker, normalize_url, upgrade_async
from tests.integration.chains_support import (
    AgencyMock,
    birth_filing,
    chain_runtime,
    close,
    file,
    running_agency_mock,
)

ROOT = Path(__file__).resolve().parents[2]
CHAINS = 5
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mock(dev_keys: Path) -> Iterator[AgencyMock]:
    with running_agency_mock(dev_keys) as running:
        running.reset()
        yield running


async def test_sigkill_between_answer_and_record_loses_and_repeats_nothing(
    tmp_path: Path, mock: AgencyMock, dev_keys: Path
) -> None:
    """Kill the worker after the residence system applied every step it was sent, before the
    worker recorded any answer; a new worker completes every chain without a second request."""
    data = tmp_path / "data"
    url = normalize_url(data)
    await upgrade_async(url)
    engine = create_engine(url)
    runtime = chain_runtime(engine, mock, dev_keys)
    received = dt.datetime.now(VN_TZ).replace(microsecond=0)
    mother = mock.citizens(1)[0]["citizen_id"]
    filings = [birth_filing(i, mother, received_at=received) for i in range(1, CHAINS + 1)]
    for filing in filings:
        await file(runtime, engine, filing)
    mock.faults("residence", drop_after_commit=1.0, stall_seconds=60)
    port = mock.base_url.rsplit(":", 1)[1]
    env = {
        **os.environ,
        "LIENTHONG_SANDBOX": "true",
        "LIENTHONG_KEYS_DIR": str(dev_keys),
        "LIENTHONG_DATA_DIR": str(data),
        "LIENTHONG_MOCK_PORT": port,
        "LIENTHONG_CHAIN_LEASE_SECONDS": "2",
        "LIENTHONG_UPSTREAM_ATTEMPT_TIMEOUT": "60",
        "LIENTHONG_UPSTREAM_DEADLINE": "60",
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "lienthong.cli", "chains", "work"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while len(mock.requests("residence")) < CHAINS:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the residence steps were not all sent"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
        log.close()
    async with create_sessionmaker(engine)() as session:
        before = await chain_counts(session)
    assert before.steps.get("done", 0) == CHAINS  # the birth steps; residence not recorded
    mock.faults("residence")  # no more faults
    time.sleep(2.2)  # the killed worker's leases end
    try:
        await runtime.worker().drain()
    finally:
        await close(runtime)
    async with create_sessionmaker(engine)() as session:
        after = await chain_counts(session)
    await engine.dispose()
    assert after.chains == {"completed": CHAINS}
    for agency in ("civil-status", "residence", "social-security"):
        references = [r["reference"] for r in mock.requests(agency)]
        assert len(references) == CHAINS, agency
        assert len(set(references)) == CHAINS, agency
