"""A server of ``bench/lookup_counts.py --opcodes`` with a Python opcode counter on its event loop.

Run: ``python bench/opcode_counter.py adapter PORT`` (the adapter as ``adapter_bench.py
--serve-adapter`` serves it, its settings from the ``LIENTHONG_*`` environment) or ``python
bench/opcode_counter.py floor PORT POPULATION_URL KEYS_DIR DATABASE`` (``bench/floor_server.py``),
with ``LIENTHONG_BENCH_OPCODES`` naming the JSON file the counts are written to.

``SIGUSR1`` starts counting, ``SIGUSR2`` stops and writes the counts: for every Python function
that ran on the event loop's thread (``sys.settrace`` with ``f_trace_opcodes``), the opcodes it
executed and how often a frame of it was entered (a call, or a coroutine resumed). A generated
``__init__`` (a dataclass's, a named tuple's: file ``<string>``) is named by its class. The
counts are exact and the same on any machine: what they show is how much Python a lookup runs,
not what it costs (a call into C is one opcode); the tracer makes the server ~20x slower.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from harness import ROOT  # noqa: F401 - puts the repository on sys.path

OUT = "LIENTHONG_BENCH_OPCODES"
#: a function: (file, first line, name)
Function = tuple[str, int, str]


class OpcodeCounter:
    """Opcodes and frame entries per Python function, on the thread that starts it."""

    def __init__(self) -> None:
        self.opcodes: collections.Counter[Function] = collections.Counter()
        self.entries: collections.Counter[Function] = collections.Counter()

    def _trace(self, frame: FrameType, event: str, _: Any) -> Any:
        if event == "opcode":
            self.opcodes[_function(frame)] += 1
        elif event == "call":
            frame.f_trace_opcodes = True
            self.entries[_function(frame)] += 1
        return self._trace

    def start(self, *_: object) -> None:
        """Count from now (a signal handler: the frames running now are counted too)."""
        self.opcodes.clear()
        self.entries.clear()
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            frame.f_trace = self._trace
            frame.f_trace_opcodes = True
            frame = frame.f_back
        sys.settrace(self._trace)

    def stop(self, *_: object) -> None:
        """Stop counting and write the counts to the file :data:`OUT` names."""
        sys.settrace(None)
        counted = [
            [*function, self.opcodes[function], self.entries[function]]
            for function in self.opcodes.keys() | self.entries.keys()
        ]
        Path(os.environ[OUT]).write_text(json.dumps(counted), encoding="utf-8")


def _function(frame: FrameType) -> Function:
    code = frame.f_code
    name = code.co_name
    if code.co_filename == "<string>" and "self" in frame.f_locals:
        name = f"{type(frame.f_locals['self']).__qualname__}.{name}"
    return code.co_filename, code.co_firstlineno, name


def main() -> None:
    counter = OpcodeCounter()
    signal.signal(signal.SIGUSR1, counter.start)
    signal.signal(signal.SIGUSR2, counter.stop)
    if sys.argv[1] == "adapter":
        from adapter_bench import serve_adapter

        serve_adapter(int(sys.argv[2]))
    else:
        from floor_server import serve

        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])


if __name__ == "__main__":
    main()
