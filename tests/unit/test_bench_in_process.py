"""The in-process benches run to the end on the code as it is (tiny runs; nothing timed).

They fake parts of the adapter (a verifier, a signer, the population database); a change to an
interface they stand in for must fail here, not on the next person who measures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

RUNS = {
    "lookup_route_bench.py": ["--calls", "20", "--rounds", "1"],
    "lookup_route_bench.py --plain": ["--calls", "20", "--rounds", "1", "--plain"],
    "front_bench.py": ["--calls", "20", "--rounds", "1"],
    "answer_bench.py": ["--seconds", "0.01", "--rounds", "1"],
    "log_writes_bench.py": ["--lookups", "40", "--in-flight", "4"],
}


@pytest.mark.parametrize("run", sorted(RUNS))
def test_bench_runs_to_the_end(run: str) -> None:
    script = run.split()[0]
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *RUNS[run]],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert any(char.isdigit() for char in done.stdout), done.stdout[-2000:]
