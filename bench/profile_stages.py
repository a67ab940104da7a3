"""Where a profiled adapter's CPU goes, stage by stage, from py-spy's collapsed stacks.

``py-spy record --format raw --full-filenames`` writes one line per distinct stack: the frames
from the thread's root to the leaf, separated by ``;``, each ``function (path:line)``, then a
space and the number of samples. A sample belongs to the stage of the **innermost** frame whose
file path matches a rule (:data:`RULES`, tried in order for that frame): a frame in a module no
rule names (the standard library's ``hashlib``, pydantic, lxml's Python parts) leaves the sample
to its caller, so a digest computed for the message log counts as a log write and a pydantic
model built while reading the answer counts as answer reading. A stack no rule matches at all
is ``other``.

Only the event loop's thread is classified (``count_stages`` skips the stacks that start in
``threading.py``, the driver threads): its CPU is what the samples divide, while the SQLite
driver threads' CPU is read from ``/proc`` and counted as log writes whole (a thread waiting
for a core looks busy to a sampler, the kernel's count does not).

The stages in :data:`FLOOR_STAGES` are the work the floor (``bench/adapter_floor.py``) contains
too; the others are what the adapter does beyond it. The integrated floor
(``bench/floor_server.py``) is profiled with the same rules: its log rows and group commit
(``bench/floor_log.py``) are log writes, its own few lines of glue count with the server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

#: (stage, path fragments): a frame's path containing a fragment puts it in that stage
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rfc9421", ("/security/http_signatures/", "/security/structured_fields.py")),
    (
        "ws_security",
        (
            "/security/wsse/",
            "/security/xml.py",
            "/security/trust.py",
            "/security/keys.py",
            "/security/timestamps.py",
        ),
    ),
    (
        "log_writes",
        (
            "/store/",
            "/aiosqlite/",
            "/sqlite3/",
            "/sqlalchemy/",
            "/asyncpg/",
            "/adapter_api/access.py",
            "/bench/floor_log.py",
        ),
    ),
    ("resilience", ("/connectors/resilience.py", "/connectors/upstream.py", "/tenacity/")),
    (
        "middleware",
        (
            "/security/asgi.py",
            "/security/admission.py",
            "/security/replay.py",
            "/security/rate_counters.py",
            "/adapter_api/front.py",
            "/adapter_api/request_id.py",
            "/adapter_api/metrics.py",
            "/adapter_api/request_guard.py",
            "/adapter_api/error_mapping.py",
            "/adapter_api/problems.py",
            "/prometheus_client/",
            "/logging/",
        ),
    ),
    ("route", ("/adapter_api/routes/", "/adapter_api/", "/schemas/api/")),
    ("answer_reading", ("/connectors/soap.py", "/connectors/population.py", "/schemas/")),
    ("fastapi", ("/fastapi/", "/starlette/", "/anyio/")),
    (
        "server_loop_client",
        (
            "/uvicorn/",
            "/lienthong/server.py",
            "/lienthong/http_protocol.py",
            "/connectors/http_client.py",
            "/asyncio/",
            "/uvloop/",
            "/httptools/",
            "/h11/",
            "/threading.py",
            "/concurrent/",
            "/bench/floor_server.py",
        ),
    ),
    ("connector", ("/connectors/",)),
)

#: the stages whose work the floor contains too
FLOOR_STAGES = ("rfc9421", "ws_security", "log_writes", "server_loop_client")
STAGES = (*(stage for stage, _ in RULES), "other")


def frame_path(frame: str) -> str:
    """The file path of a py-spy frame ``function (path:line)`` ('' when it has none)."""
    start = frame.rfind(" (")
    if start < 0 or not frame.endswith(")"):
        return ""
    path = frame[start + 2 : -1]
    head, colon, line = path.rpartition(":")
    return head if colon and line.isdigit() else path


def stage_of_path(path: str) -> str | None:
    """The stage of a file path, or None when no rule names it."""
    path = path.replace("\\", "/")
    for stage, fragments in RULES:
        if any(fragment in path for fragment in fragments):
            return stage
    return None


def stage_of_stack(frames: Iterable[str]) -> str:
    """The stage of a stack (root first): its innermost frame that a rule names decides."""
    for frame in reversed(list(frames)):
        stage = stage_of_path(frame_path(frame))
        if stage is not None:
            return stage
    return "other"


def is_other_thread(frames: list[str]) -> bool:
    """Whether a stack is of a thread started by ``threading`` (not the main thread)."""
    return bool(frames) and frame_path(frames[0]).endswith("/threading.py")


def count_stages(collapsed: str, *, main_thread_only: bool = True) -> Counter[str]:
    """Samples per stage in py-spy's collapsed (``raw``) output (the main thread's only,
    unless ``main_thread_only`` is false)."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, number = line.rstrip().rpartition(" ")
        if not stack or not number.isdigit():
            continue
        frames = stack.split(";")
        if main_thread_only and is_other_thread(frames):
            continue
        counts[stage_of_stack(frames)] += int(number)
    return counts


def shares(counts: Mapping[str, int]) -> dict[str, float]:
    """Each stage's share of the samples (0 to 1), every stage named, in :data:`STAGES` order."""
    total = sum(counts.values())
    return {stage: (counts.get(stage, 0) / total if total else 0.0) for stage in STAGES}


__all__ = [
    "FLOOR_STAGES",
    "RULES",
    "STAGES",
    "count_stages",
    "frame_path",
    "is_other_thread",
    "shares",
    "stage_of_path",
    "stage_of_stack",
]
