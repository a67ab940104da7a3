"""What a signed citizen lookup runs, counted: the adapter's against the integrated floor's.

Run: ``python bench/lookup_counts.py [--calls N] [--concurrency C] [--simulate] [--keep DIR]``
(instructions; needs valgrind), ``python bench/lookup_counts.py --opcodes [--top K]`` (Python
opcodes) or ``python bench/lookup_counts.py --clock [--rounds R]`` (CPU time, interleaved).

``bench/adapter_bench.py`` measures CPU time, which on a shared 2-core machine moves with
whatever else runs: its adapter-to-floor ratio has ranged over ±0.1 from one run to the next.
Counts do not. This serves the adapter (as ``adapter_bench.py --serve-adapter`` does: production
wiring, SQLite) and the integrated floor (``bench/floor_server.py``) against the population mock,
and for each server:

1. stores the purpose dossiers through the adapter (as ``adapter_bench.py`` does) and sends
   ``--warm-up`` lookups uncounted;
2. starts counting, sends ``--calls`` signed lookups, ``--concurrency`` at a time, each signed
   just before it is sent (the load generator's own work is not counted), every answer's
   signature verified;
3. stops counting and reads the counts.

Two kinds of count:

* **instructions** (the default): each server runs under ``valgrind --tool=callgrind`` with
  instrumentation off until step 2 (``callgrind_control -i on``, ``-z``; then ``-d``): the
  machine instructions (``Ir``) of all its threads — the event loop and the SQLite driver
  thread — per lookup. With ``--simulate``, callgrind simulates the caches and the branch
  predictors too: misses and mispredictions per lookup, what makes an instruction dear
  (``--keep DIR`` keeps the dumps for ``callgrind_annotate``). Under valgrind the servers run
  ~50x slower, so each transaction of their group commits holds more lookups than in
  ``adapter_bench.py``'s time run: the same work at a deeper batching, for both. The kernel's
  share of the CPU (system calls) is not counted; ``adapter_bench.py`` prints it.
* **opcodes** (``--opcodes``): each server runs under ``bench/opcode_counter.py``, which counts
  on its event loop's thread the Python opcodes each function executes and its frame entries
  (calls and coroutine resumptions): how much Python a lookup runs, and where (the files and
  functions where the adapter runs most beyond the floor, ``--top K`` of each). A call into C
  is one opcode, so this shows the Python glue, not the cost of the C libraries under it.

And one measure of time that the machine's drift moves less than ``adapter_bench.py``'s:

* **clock** (``--clock``): both servers run plainly; ``--rounds`` times, each serves a window of
  ``--calls`` lookups in turn (the order alternating from one round to the next), and its CPU
  time over the window (user and system, all threads, from ``/proc``) and its context switches
  are read. A slow spell of the machine then falls on both servers' windows of a round, not on
  one server's whole phase: printed are each server's CPU and context switches per lookup, and
  the adapter-to-floor ratio over all windows and per round (median and quartiles).

Printed: per lookup, each server's counts and their ratio; written to
``bench/results/lookup_instructions.json``, ``lookup_opcodes.json`` or ``lookup_clock.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from adapter_bench import (
    OFFICIAL,
    adapter_environment,
    check_answer,
    register_purposes,
    serve_mock,  # noqa: F401 - started as this folder's adapter_bench.py --serve-mock
)
from harness import ROOT, context_switches, cpu_seconds, free_port, start_child
from opcode_counter import OUT as OPCODES_OUT

from connectors.http_client import ConnectionPool
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.keys import load_party
from security.pki import init_dev_pki
from security.trust import TrustStore

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
#: how long a server under valgrind may take to listen (its imports run ~5x slower)
START_TIMEOUT = 600.0
SERVERS = ("adapter", "integrated_floor")
#: the simulated events' names, as callgrind writes them, and what the report calls them
SIMULATED = {
    "I1mr": "L1 instruction misses",
    "D1mr": "L1 data read misses",
    "D1mw": "L1 data write misses",
    "ILmr": "last-level instruction misses",
    "DLmr": "last-level data read misses",
    "DLmw": "last-level data write misses",
    "Bcm": "mispredicted conditional branches",
    "Bim": "mispredicted indirect branches",
}


class Lookups:
    """Signed citizen lookups sent to one server, each signed just before it goes."""

    def __init__(
        self,
        client: ConnectionPool,
        signer: HttpSigner,
        verifier: HttpVerifier,
        citizens: list[str],
        issues: list[str],
    ) -> None:
        self.client = client
        self.signer = signer
        self.verifier = verifier
        self.citizens = citizens
        self.issues = issues

    async def send(self, base: str, calls: int, concurrency: int) -> None:
        """``calls`` lookups to ``base``, ``concurrency`` at a time, every answer checked."""
        remaining = calls

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                pick = random.randrange(len(self.citizens))
                url = f"{base}/v1/citizens/{self.citizens[pick]}"
                headers = {"X-User-Id": OFFICIAL, "X-Issue": self.issues[pick]}
                headers.update(self.signer.sign_request("GET", url, headers, b""))
                status, answer_headers, content = await self.client.request(
                    "GET", url, headers, None
                )
                if status != 200:
                    raise RuntimeError(f"a lookup was answered {status}")
                check_answer(self.verifier, ("GET", url, headers), status, answer_headers, content)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


@dataclass(frozen=True, slots=True)
class Served:
    """One server being counted: its process and where its counts go."""

    name: str
    process: subprocess.Popen[bytes]
    base: str
    out: Path


class Counting(Protocol):
    """A kind of count: how a server is started for it, and how the servers are counted."""

    def launcher(self, name: str, out: Path) -> tuple[str, ...]:
        """What goes before ``python SCRIPT ARGS``."""
        ...

    def script(self, name: str, args: list[str]) -> tuple[str, list[str]]:
        """The script and arguments that serve ``name`` (its plain ones: ``args``)."""
        ...

    async def count(
        self, served: list[Served], lookups: Lookups, args: argparse.Namespace
    ) -> dict[str, Any]:
        """Each server's counts (by name) over the lookups ``args`` asks for."""
        ...


def plain_script(name: str, args: list[str]) -> tuple[str, list[str]]:
    """The script and arguments that serve ``name``, as ``adapter_bench.py`` serves it."""
    if name == "adapter":
        return str(BENCH / "adapter_bench.py"), ["--serve-adapter", *args]
    return str(BENCH / "floor_server.py"), args


class InTurn:
    """Counts taken one server after the other, each over one window of ``--calls`` lookups."""

    async def counted(self, served: Served, send: Any) -> Any:
        """The counts of ``served`` while ``send()`` runs."""
        raise NotImplementedError

    async def count(
        self, served: list[Served], lookups: Lookups, args: argparse.Namespace
    ) -> dict[str, Any]:
        return {
            server.name: await self.counted(
                server,
                lambda base=server.base: lookups.send(base, args.calls, args.concurrency),
            )
            for server in served
        }


class Instructions(InTurn):
    """Machine instructions (and, simulating, misses) under callgrind."""

    def __init__(self, simulate: bool) -> None:
        self.simulate = simulate

    def launcher(self, name: str, out: Path) -> tuple[str, ...]:
        simulation = ("--cache-sim=yes", "--branch-sim=yes") if self.simulate else ()
        return (
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            *simulation,
            f"--callgrind-out-file={out}",
        )

    def script(self, name: str, args: list[str]) -> tuple[str, list[str]]:
        return plain_script(name, args)

    async def counted(self, served: Served, send: Any) -> dict[str, int]:
        _callgrind(served.process.pid, "--instr=on")
        _callgrind(served.process.pid, "--zero")
        await send()
        _callgrind(served.process.pid, "--dump=measured")
        _callgrind(served.process.pid, "--instr=off")
        return dumped_events(served.out)


class Opcodes(InTurn):
    """Python opcodes and frame entries per function (``bench/opcode_counter.py``)."""

    def launcher(self, name: str, out: Path) -> tuple[str, ...]:
        return ()

    def script(self, name: str, args: list[str]) -> tuple[str, list[str]]:
        return str(BENCH / "opcode_counter.py"), [
            "adapter" if name == "adapter" else "floor",
            *args,
        ]

    async def counted(self, served: Served, send: Any) -> list[list[Any]]:
        served.out.unlink(missing_ok=True)
        os.kill(served.process.pid, signal.SIGUSR1)
        await send()
        os.kill(served.process.pid, signal.SIGUSR2)
        for _ in range(600):  # bounded: the server writes the file between two requests
            if served.out.exists() and served.out.stat().st_size:
                await asyncio.sleep(0.2)  # let it finish writing
                return list(json.loads(served.out.read_text(encoding="utf-8")))
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{served.name} wrote no opcode counts")


class Clock:
    """CPU time and context switches, in windows taken in turn (see the module docstring)."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def launcher(self, name: str, out: Path) -> tuple[str, ...]:
        return ()

    def script(self, name: str, args: list[str]) -> tuple[str, list[str]]:
        return plain_script(name, args)

    async def count(
        self, served: list[Served], lookups: Lookups, args: argparse.Namespace
    ) -> dict[str, list[tuple[float, int]]]:
        """Each server's windows: (CPU seconds, context switches) each, in round order."""
        windows: dict[str, list[tuple[float, int]]] = {server.name: [] for server in served}
        for turn in range(self.rounds):
            for server in served if turn % 2 == 0 else served[::-1]:
                pid = server.process.pid
                cpu, switches = cpu_seconds(pid), context_switches(pid)
                await lookups.send(server.base, args.calls, args.concurrency)
                windows[server.name].append(
                    (cpu_seconds(pid) - cpu, context_switches(pid) - switches)
                )
        return windows


def _callgrind(pid: int, *options: str) -> None:
    subprocess.run(["callgrind_control", *options, str(pid)], check=True, capture_output=True)


def dumped_events(out: Path) -> dict[str, int]:
    """The events (``Ir``, and with the simulation the misses and mispredictions) of the last
    dump of the run writing ``out``, all threads together."""
    dumps = sorted(out.parent.glob(f"{out.name}.*"), key=lambda path: int(path.suffix[1:]))
    if not dumps:
        raise RuntimeError(f"no callgrind dump beside {out}")
    names: list[str] = []
    for line in dumps[-1].read_text().splitlines():
        if line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith(("totals:", "summary:")):
            return dict(zip(names, map(int, line.split()[1:]), strict=False))
    raise RuntimeError(f"{dumps[-1]} holds no totals")


async def run(counting: Counting, args: argparse.Namespace) -> dict[str, Any]:
    """Each server's counts over ``args.calls`` lookups (see the module docstring)."""
    work = Path(tempfile.mkdtemp(prefix="lienthong-lookup-counts-"))
    keys, data = work / "keys", work / "data"
    init_dev_pki(keys)
    data.mkdir()
    mock_port = free_port()
    mock = start_child(
        str(BENCH / "adapter_bench.py"), ["--serve-mock", str(mock_port), str(keys)], mock_port
    )
    mock_url = f"http://127.0.0.1:{mock_port}"
    plain_args = {
        "adapter": lambda port: [str(port)],
        "integrated_floor": lambda port: [
            str(port),
            f"{mock_url}/population/soap",
            str(keys),
            str(work / "floor.db"),
        ],
    }
    environment = adapter_environment(
        data, keys, mock_url, 1, f"sqlite+aiosqlite:///{data / 'adapter.db'}", False
    )
    processes: list[subprocess.Popen[bytes]] = [mock]
    client = ConnectionPool(max_connections=args.concurrency * 2, connect_timeout=30.0)
    counts: dict[str, Any] = {}
    try:
        served: list[Served] = []
        for name in SERVERS:
            port, out = free_port(), work / f"{name}.counts"
            script, script_args = counting.script(name, plain_args[name](port))
            process = start_child(
                script,
                script_args,
                port,
                stderr=subprocess.DEVNULL,
                timeout=START_TIMEOUT,
                env={**environment, OPCODES_OUT: str(out)},
                launcher=counting.launcher(name, out),
            )
            processes.append(process)
            served.append(Served(name, process, f"http://127.0.0.1:{port}", out))
        trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
        signer = HttpSigner(load_party(keys, "province-app"), ttl=60)
        verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), None)
        citizens, issues = await register_purposes(
            client, signer, verifier, served[0].base, mock_url
        )
        lookups = Lookups(client, signer, verifier, citizens, issues)
        for server in served:
            await lookups.send(server.base, args.warm_up, args.concurrency)
        counts = await counting.count(served, lookups, args)
    finally:
        client.close()
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        if args.keep is not None:  # the callgrind dumps, for callgrind_annotate
            args.keep.mkdir(parents=True, exist_ok=True)
            for dump in work.glob("*.counts.*"):
                shutil.copy(dump, args.keep / f"{dump.name}.callgrind")
        shutil.rmtree(work, ignore_errors=True)
    return counts


def report_instructions(counts: dict[str, dict[str, int]], calls: int) -> dict[str, Any]:
    """Print the events per lookup of both servers; return them."""
    adapter, floor = (
        {event: total / calls for event, total in counts[name].items()} for name in SERVERS
    )
    print(f"  {'event':36} {'adapter':>12} {'integrated floor':>17} {'ratio':>7}")
    for event in ("Ir", *SIMULATED):
        if event in adapter and event in floor:
            name = "instructions" if event == "Ir" else SIMULATED[event]
            print(
                f"  {name:36} {adapter[event]:12,.0f} {floor[event]:17,.0f} "
                f"{adapter[event] / max(floor[event], 1):6.3f}x"
            )
    return {"adapter": adapter, "integrated_floor": floor}


def report_opcodes(counts: dict[str, list[list[Any]]], calls: int, top: int) -> dict[str, Any]:
    """Print opcodes and frame entries per lookup of both servers, and where the adapter's
    exceed the floor's most (by file, then the adapter's functions); return them."""
    by_file: dict[str, collections.Counter[str]] = {}
    totals: dict[str, dict[str, float]] = {}
    for name in SERVERS:
        files: collections.Counter[str] = collections.Counter()
        for path, _, _, opcodes, _ in counts[name]:
            files[_short(path)] += opcodes
        by_file[name] = files
        totals[name] = {
            "opcodes": sum(row[3] for row in counts[name]) / calls,
            "frame_entries": sum(row[4] for row in counts[name]) / calls,
        }
    adapter, floor = totals["adapter"], totals["integrated_floor"]
    for what in ("opcodes", "frame_entries"):
        print(
            f"  {what.replace('_', ' '):14} adapter {adapter[what]:8,.0f}  integrated floor "
            f"{floor[what]:8,.0f}  ratio {adapter[what] / floor[what]:.2f}x"
        )
    differences = {
        path: (by_file["adapter"][path] - by_file["integrated_floor"][path]) / calls
        for path in by_file["adapter"].keys() | by_file["integrated_floor"].keys()
    }
    print(f"  files where the adapter runs most beyond the floor (opcodes per lookup, top {top}):")
    for path in sorted(differences, key=lambda p: -differences[p])[:top]:
        print(
            f"    {by_file['adapter'][path] / calls:7.0f} "
            f"{by_file['integrated_floor'][path] / calls:7.0f}  {path}"
        )
    print(f"  the adapter's functions (opcodes, frame entries per lookup, top {top}):")
    functions = sorted(counts["adapter"], key=lambda row: -row[3])[:top]
    for path, line, function, opcodes, entries in functions:
        print(
            f"    {opcodes / calls:7.0f} {entries / calls:6.1f}  {_short(path)}:{line} {function}"
        )
    return {"totals": totals, "by_file_adapter_minus_floor": differences}


def report_clock(windows: dict[str, list[tuple[float, int]]], calls: int) -> dict[str, Any]:
    """Print each server's CPU and context switches per lookup over all its windows, and the
    adapter-to-floor ratio of CPU over all windows and per round; return them."""
    lookups = {name: calls * len(rows) for name, rows in windows.items()}
    figures: dict[str, Any] = {
        name: {
            "cpu_ms": 1000 * sum(cpu for cpu, _ in rows) / lookups[name],
            "context_switches": sum(switches for _, switches in rows) / lookups[name],
        }
        for name, rows in windows.items()
    }
    for name in SERVERS:
        print(
            f"  {name:17} CPU {figures[name]['cpu_ms']:.3f} ms, "
            f"{figures[name]['context_switches']:.2f} context switches per lookup"
        )
    per_round = [
        adapter / floor
        for (adapter, _), (floor, _) in zip(
            windows["adapter"], windows["integrated_floor"], strict=True
        )
        if floor > 0
    ]
    floor_ms = figures["integrated_floor"]["cpu_ms"]
    # a window too short for the clock's tick (10 ms) reads 0: no ratio from it
    overall = figures["adapter"]["cpu_ms"] / floor_ms if floor_ms else math.nan
    if len(per_round) > 1:
        quartiles = statistics.quantiles(per_round, n=4)
    else:
        quartiles = (per_round or [math.nan]) * 3
    figures["ratio"] = {
        "all_windows": overall,
        "median_round": statistics.median(per_round) if per_round else math.nan,
        "quartiles": [quartiles[0], quartiles[2]],
        "rounds": len(per_round),
    }
    median = figures["ratio"]["median_round"]
    print(
        f"  adapter / integrated floor: {overall:.3f}x over all windows; per round median "
        f"{median:.3f}x, quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}x ({len(per_round)} rounds)"
    )
    return figures


def _short(path: str) -> str:
    """``path`` from the repository, site-packages or the standard library."""
    for root in (
        f"{ROOT}/",
        "site-packages/",
        f"python{sys.version_info[0]}.{sys.version_info[1]}/",
    ):
        if root in path:
            return path.split(root, 1)[1]
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warm-up", type=int, default=100)
    parser.add_argument(
        "--opcodes",
        action="store_true",
        help="count Python opcodes per function (bench/opcode_counter.py), not instructions",
    )
    parser.add_argument("--top", type=int, default=25, help="with --opcodes: files and functions")
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="simulate the caches and branch predictors too (callgrind --cache-sim --branch-sim): "
        "misses and mispredictions per lookup beside the instructions; about twice as slow",
    )
    parser.add_argument(
        "--keep", type=Path, help="copy the servers' callgrind dumps here (for callgrind_annotate)"
    )
    parser.add_argument(
        "--clock",
        action="store_true",
        help="CPU time and context switches per lookup, the servers' windows in turn, not counts",
    )
    parser.add_argument("--rounds", type=int, default=30, help="with --clock: windows per server")
    args = parser.parse_args(argv)
    counting: Counting
    if args.clock:
        counting, kind = Clock(args.rounds), "clock"
    elif args.opcodes:
        counting, kind = Opcodes(), "opcodes"
    else:
        counting, kind = Instructions(args.simulate), "instructions"
    if kind == "instructions" and (
        shutil.which("valgrind") is None or shutil.which("callgrind_control") is None
    ):
        raise SystemExit("lookup_counts: valgrind (with callgrind_control) is not installed")
    counts = asyncio.run(run(counting, args))
    windows = f"{args.rounds} rounds of windows of " if kind == "clock" else ""
    print(
        f"per signed lookup ({windows}{args.calls} lookups, {args.concurrency} in flight, SQLite, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs):"
    )
    if kind == "clock":
        result = report_clock(counts, args.calls)
    elif kind == "opcodes":
        result = report_opcodes(counts, args.calls, args.top)
    else:
        result = report_instructions(counts, args.calls)
    written = RESULTS / f"lookup_{kind}.json"
    written.parent.mkdir(parents=True, exist_ok=True)
    written.write_text(
        json.dumps({"benchmark": "lookup_counts", "kind": kind, "calls": args.calls, **result})
        + "\n",
        encoding="utf-8",
    )
    print(f"written to {written.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
