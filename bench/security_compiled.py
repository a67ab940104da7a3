"""WS-Security sign + verify with its Python compiled to C by mypyc, against the same floor.

Is the Python between the libxml2 and ECDSA calls what keeps WS-Security above its floor
(``bench/security_floor.py``)? This copies the ``security`` package into a temporary folder and
compiles there, with mypyc and no change to their source, the modules a sign + verify runs:
the WS-Security package, the hardened parser and the signature primitives (:data:`COMPILED`).
Then ``bench/security_breakdown.py --whole`` times sign + verify end to end against the floor,
on the plain package and on the compiled copy in turn, each in a process of its own (one process
cannot import both), ``--runs`` times each; the best of each is reported. Compiled code runs no
bytecode: what it leaves between ours and the floor is the cost of the calls themselves
(lxml's element proxies, tags and XPath contexts; the C calls they slow down).

Run: ``python bench/security_bench.py --compiled [--runs N]`` (needs mypy, in the ``dev``
extra, and a C compiler; the compiled copy is removed at the end; nothing is written to
``bench/results``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BREAKDOWN = Path(__file__).resolve().with_name("security_breakdown.py")
#: the modules of a sign + verify that mypyc compiles (the rest of the package stays Python)
COMPILED = (
    "security/algorithms.py",
    "security/xml.py",
    "security/wsse/c14n.py",
    "security/wsse/compact.py",
    "security/wsse/fast_path.py",
    "security/wsse/sign.py",
    "security/wsse/signed_info.py",
    "security/wsse/structure.py",
    "security/wsse/timestamp.py",
    "security/wsse/token.py",
    "security/wsse/verify.py",
)


class CompileFailed(Exception):
    """mypyc could not compile the copy (its last line of output says why)."""


def compiled_copy(folder: Path) -> Path:
    """A copy of the ``security`` package in ``folder`` with :data:`COMPILED` built by mypyc."""
    shutil.copytree(ROOT / "security", folder / "security")
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")  # mypy's settings
    done = subprocess.run(
        [sys.executable, "-m", "mypyc", *COMPILED],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        raise CompileFailed(f"mypyc failed: {last[0]}")
    return folder


def timed(root: Path | None) -> dict[str, Any]:
    """``security_breakdown.py --whole`` in a process of its own, on the package at ``root``
    (this checkout's when None): µs per sign + verify, ours and the floor's."""
    command = [sys.executable, str(BREAKDOWN), "--whole"]
    if root is not None:
        command += ["--root", str(root)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def compare(runs: int) -> dict[str, Any]:
    """Best of ``runs`` for the plain package and for the compiled copy, run in turn."""
    with tempfile.TemporaryDirectory(prefix="lienthong-mypyc-") as folder:
        copy = compiled_copy(Path(folder))
        best: dict[str, dict[str, Any]] = {}
        for _ in range(runs):
            for name, root in (("plain", None), ("compiled", copy)):
                found = timed(root)
                if name not in best or found["ratio"] < best[name]["ratio"]:
                    best[name] = found
    return best


def report(best: dict[str, dict[str, Any]]) -> None:
    for name, found in best.items():
        print(
            f"{name:9}: ours sign + verify {found['ours_us']:.1f} µs, floor "
            f"{found['floor_us']:.1f} µs, ours / floor {found['ratio']:.3f}"
            f" (bytecode-free: {found['compiled']})"
        )
    gain = 1 - best["compiled"]["ours_us"] / best["plain"]["ours_us"]
    print(
        f"compiling the Python to C takes {gain * 100:.1f} % off ours; ratio "
        f"{best['plain']['ratio']:.3f} -> {best['compiled']['ratio']:.3f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each, in turn (best kept)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    try:
        report(compare(args.runs))
    except CompileFailed as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main()
