"""A py-spy profile of the adapter under load, turned into each stage's share of its CPU.

``bench/adapter_bench.py`` drives one more adapter round while :class:`Profile` samples the
adapter's process (only the thread holding the GIL, ``--gil``; ``--nonblocking`` so the adapter
is never paused), then :func:`profile_stages.count_stages` puts each of the event loop thread's
samples in its stage; the driver threads' CPU comes from ``/proc`` and counts as log writes.
py-spy comes with the ``bench`` extra (``pip install -e '.[bench]'``); without it the bench
reports no shares.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

from profile_stages import FLOOR_STAGES, count_stages, shares

RATE = 500


def py_spy() -> str | None:
    """The py-spy command beside this interpreter (or on the PATH), if installed."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


class Profile:
    """py-spy sampling process ``pid`` from :meth:`start` until :meth:`stop`."""

    def __init__(self, pid: int, command: str) -> None:
        self.pid = pid
        self.command = command
        self._output = Path(tempfile.mkstemp(prefix="lienthong-profile-", suffix=".txt")[1])
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._process = subprocess.Popen(
            [
                self.command,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(RATE),
                "--format",
                "raw",
                "--full-filenames",
                "--nonblocking",
                "--gil",
                "--output",
                str(self._output),
            ],
            stdout=self._log,
            stderr=self._log,
        )

    def stop(self) -> str:
        """Stop sampling; py-spy's collapsed stacks (empty if it could not attach)."""
        assert self._process is not None
        assert self._log is not None
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()
        text = self._output.read_text(encoding="utf-8") if self._output.exists() else ""
        self._output.unlink(missing_ok=True)
        return text


def stage_figures(collapsed: str, loop_ms: float, threads_ms: float) -> dict[str, object]:
    """Each stage's ms per lookup and share of the adapter's CPU: the event loop thread's
    ``loop_ms`` divided as its samples are, the driver threads' ``threads_ms`` counted as log
    writes."""
    counts = count_stages(collapsed)
    ms = {stage: value * loop_ms for stage, value in shares(counts).items()}
    ms["log_writes"] += threads_ms
    return _figures(ms, sum(counts.values()), threads_ms)


def integrated_stage_figures(
    collapsed: str, loop_ms: float, threads_ms: float, commit_ms: float
) -> dict[str, object]:
    """:func:`stage_figures` of the integrated floor (``bench/floor_server.py``), whose log
    commits run on the event loop's thread: their CPU, ``commit_ms`` per lookup as the server
    counts it, is the log writes' (with any other thread's ``threads_ms``), and the rest of the
    loop's CPU is divided as its samples outside the log writes are. (The commit releases the
    GIL around SQLite's work and the fsync, so its samples would understate it.)"""
    counts = count_stages(collapsed)
    samples = sum(counts.values())
    counts.pop("log_writes", None)
    ms = {stage: value * max(0.0, loop_ms - commit_ms) for stage, value in shares(counts).items()}
    ms["log_writes"] = commit_ms + threads_ms
    return {
        **_figures(ms, samples, threads_ms),
        "commit_ms_per_lookup": round(commit_ms, 4),
    }


def _figures(ms: dict[str, float], samples: int, threads_ms: float) -> dict[str, object]:
    """What a profile's figures hold: its ms per lookup by stage (``ms``) and their shares."""
    total = sum(ms.values())
    share = {stage: value / total if total else 0.0 for stage, value in ms.items()}
    return {
        "samples": samples,
        "driver_threads_ms_per_lookup": round(threads_ms, 4),
        "share": {stage: round(value, 4) for stage, value in share.items()},
        "ms_per_lookup": {stage: round(value, 4) for stage, value in ms.items()},
        "floor_stages": list(FLOOR_STAGES),
        "outside_floor_share": round(
            sum(value for stage, value in share.items() if stage not in FLOOR_STAGES), 4
        ),
    }


__all__ = ["RATE", "Profile", "integrated_stage_figures", "py_spy", "stage_figures"]
