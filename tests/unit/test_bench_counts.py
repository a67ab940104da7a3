"""``bench/lookup_counts.py`` and its opcode counter (``bench/opcode_counter.py``) count what they
say: each function's own opcodes and entries, both servers' lookups, callgrind's last dump; and
``bench/adapter_bench.py``'s speed check compares the stages both servers run the same code for."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from adapter_bench import speed_check  # noqa: E402
from lookup_counts import (  # noqa: E402
    Clock,
    Opcodes,
    dumped_events,
    report_clock,
    report_opcodes,
    run,
)
from opcode_counter import OUT, OpcodeCounter  # noqa: E402


@dataclass
class _Point:
    x: int
    y: int


def _loop(times: int) -> int:
    total = 0
    for step in range(times):
        total += step
    return total


def test_opcode_counter_counts_each_function_and_names_generated_inits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "counts.json"
    monkeypatch.setenv(OUT, str(out))
    counter = OpcodeCounter()
    counter.start()
    _loop(10)
    _loop(40)
    _Point(1, 2)
    counter.stop()
    rows = {
        (Path(path).name, name): (opcodes, entries)
        for path, _, name, opcodes, entries in (json.loads(out.read_text()))
    }
    loop_opcodes, loop_entries = rows[("test_bench_counts.py", "_loop")]
    assert loop_entries == 2
    # 50 turns of the loop between the two calls: more than 50 opcodes, not a fixed cost
    assert loop_opcodes > 50 * 3
    assert rows[("<string>", "_Point.__init__")][1] == 1
    # the function that started the counter was running already: it is counted, not entered
    here = rows[
        (
            "test_bench_counts.py",
            "test_opcode_counter_counts_each_function_and_names_generated_inits",
        )
    ]
    assert here[0] > 0
    assert here[1] == 0


def test_dumped_events_reads_the_last_dump(tmp_path: Path) -> None:
    out = tmp_path / "server.counts"
    (tmp_path / "server.counts.1").write_text("events: Ir Bcm\nsummary: 10 1\n")
    (tmp_path / "server.counts.2").write_text("events: Ir Bcm\nfn=x\n1 5 0\ntotals: 700 30\n")
    assert dumped_events(out) == {"Ir": 700, "Bcm": 30}
    with pytest.raises(RuntimeError, match="no callgrind dump"):
        dumped_events(tmp_path / "other.counts")


async def test_opcodes_of_both_servers_are_counted_over_their_lookups(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Both servers answer signed lookups under the counter; each one's counts hold its own
    code and not the other's, and the report prints both and their ratio."""
    args = argparse.Namespace(calls=4, concurrency=2, warm_up=2, keep=None)
    counts = await run(Opcodes(), args)
    files = {
        name: {Path(row[0]).as_posix() for row in rows if row[3] or row[4]}
        for name, rows in counts.items()
    }
    assert any(path.endswith("connectors/echo.py") for path in files["adapter"])
    assert not any(path.endswith("bench/floor_log.py") for path in files["adapter"])
    assert any(path.endswith("bench/floor_log.py") for path in files["integrated_floor"])
    assert not any("/adapter_api/" in path for path in files["integrated_floor"])
    for rows in counts.values():  # every lookup enters frames: at least one per lookup
        assert sum(row[4] for row in rows) >= args.calls
    figures = report_opcodes(counts, args.calls, top=3)
    totals = figures["totals"]
    assert totals["adapter"]["opcodes"] > totals["integrated_floor"]["opcodes"] > 0
    ratio = totals["adapter"]["opcodes"] / totals["integrated_floor"]["opcodes"]
    assert f"ratio {ratio:.2f}x" in capsys.readouterr().out


async def test_clock_takes_each_servers_windows_in_turn() -> None:
    """Each server serves one window per round; each window's CPU and context switches are its
    own process's (both grow with the lookups it served, none is negative)."""
    args = argparse.Namespace(calls=4, concurrency=2, warm_up=2, keep=None)
    windows = await run(Clock(rounds=3), args)
    assert set(windows) == {"adapter", "integrated_floor"}
    for rows in windows.values():
        assert len(rows) == 3
        assert all(cpu >= 0 for cpu, _ in rows)
        # each lookup is a socket read and write at least: the loop waits, and is switched out
        assert all(switches > 0 for _, switches in rows)


def test_clock_report_gives_the_ratio_over_all_windows_and_per_round(
    capsys: pytest.CaptureFixture[str],
) -> None:
    windows = {
        "adapter": [(0.3, 30), (0.2, 10), (0.4, 20), (0.3, 0)],
        "integrated_floor": [(0.2, 10), (0.2, 10), (0.2, 10), (0.0, 10)],
    }
    figures = report_clock(windows, calls=100)
    assert figures["adapter"] == {"cpu_ms": 3.0, "context_switches": 0.15}
    assert figures["integrated_floor"]["cpu_ms"] == pytest.approx(1.5)
    assert figures["ratio"]["all_windows"] == pytest.approx(2.0)
    # the last round's floor window read no CPU (shorter than a tick): it gives no ratio
    assert figures["ratio"]["rounds"] == 3
    assert figures["ratio"]["median_round"] == pytest.approx(1.5)
    assert "2.000x over all windows; per round median 1.500x" in capsys.readouterr().out


def test_speed_check_reads_only_the_stages_both_servers_share() -> None:
    adapter = {"rfc9421": 0.4, "ws_security": 1.2, "log_writes": 9.0, "server_loop_client": 9.0}
    floor = {"rfc9421": 0.2, "ws_security": 0.6, "log_writes": 0.1, "server_loop_client": 0.1}
    assert speed_check(adapter, floor) == 2.0
    assert speed_check(floor, floor) == 1.0
