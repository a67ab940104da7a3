"""What the benchmarks share: child processes on loopback ports and CPU figures from /proc.

Imported by the scripts beside it (``python bench/NAME.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from schemas.wire.population import build_get_citizen_request  # noqa: E402
from schemas.wire.xroad import (  # noqa: E402
    XRoadClient,
    XRoadHeader,
    XRoadService,
    build_header_elements,
)

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def get_citizen_envelope(
    citizen_id: str, *, user_id: str, issue: str, nsmap: dict[str, str] | None = None
) -> etree._Element:
    """An unsigned GetCitizen request envelope as a provincial system builds it (a fresh
    message id each time); ``nsmap`` is declared on the Envelope beside ``soapenv``."""
    header = XRoadHeader(
        client=XRoadClient(member_code="H04", subsystem_code="motcua"),
        service=XRoadService(
            member_code="CSDLQGDC",
            service_code="GetCitizen",
            subsystem_code="population",
            service_version="v1",
        ),
        message_id=str(uuid.uuid4()),
        user_id=user_id,
        issue=issue,
    )
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soapenv": SOAP_NS, **(nsmap or {})})
    etree.SubElement(envelope, f"{{{SOAP_NS}}}Header").extend(build_header_elements(header))
    etree.SubElement(envelope, f"{{{SOAP_NS}}}Body").append(build_get_citizen_request(citizen_id))
    return envelope


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_child(
    script: str,
    args: list[str],
    port: int,
    *,
    stderr: IO[bytes] | None = None,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    launcher: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Run ``python SCRIPT ARGS`` from the project root (``SCRIPT`` may be ``-m``, then ARGS
    start with the module), behind ``launcher`` if given (e.g. ``valgrind …``); return once it
    listens on ``port``."""
    process = subprocess.Popen(
        [*launcher, sys.executable, script, *args], cwd=ROOT, stderr=stderr, env=env
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{args[0]} did not start")


#: where ``/proc/…/stat`` holds the user and the system (kernel) CPU, after the command's name
_USER, _SYSTEM = 11, 12


def _stat_cpu(path: Path, kinds: tuple[int, ...] = (_USER, _SYSTEM)) -> float:
    fields = path.read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[kind]) for kind in kinds) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    return _stat_cpu(Path(f"/proc/{pid}/stat"))


def system_cpu_seconds(pid: int) -> float:
    """System (kernel) CPU seconds of process ``pid`` so far: its system calls, page faults."""
    return _stat_cpu(Path(f"/proc/{pid}/stat"), (_SYSTEM,))


def thread_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the main thread (the event loop) of process ``pid``."""
    return _stat_cpu(Path(f"/proc/{pid}/task/{pid}/stat"))


def context_switches(pid: int) -> int:
    """Context switches (voluntary and not) of all threads of process ``pid`` alive now."""
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
    return switches


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants alive now (``serve --workers N``: supervisor + workers)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").iterdir():
            pending += [int(child) for child in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """:func:`cpu_seconds` summed over :func:`process_tree` (descendants that exited are lost:
    measure over a window in which none exits)."""
    return sum(cpu_seconds(member) for member in process_tree(pid))


def tree_system_cpu_seconds(pid: int) -> float:
    """:func:`system_cpu_seconds` summed over :func:`process_tree`."""
    return sum(system_cpu_seconds(member) for member in process_tree(pid))


def tree_thread_cpu_seconds(pid: int) -> float:
    """:func:`thread_cpu_seconds` summed over :func:`process_tree`: every process's event loop."""
    return sum(thread_cpu_seconds(member) for member in process_tree(pid))
