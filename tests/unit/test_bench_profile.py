"""The adapter bench's stage classifier (``bench/profile_stages.py``): py-spy stacks to stages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("profile_stages", BENCH / "profile_stages.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("profile_stages", module)
    spec.loader.exec_module(module)
    return module


stages = _load()

SITE = "/srv/app/.venv/lib/python3.11/site-packages"
REPO = "/srv/app"
STDLIB = "/usr/lib/python3.11"


def frame(function: str, path: str, line: int = 10) -> str:
    return f"{function} ({path}:{line})"


def test_frame_path_reads_the_file_of_a_py_spy_frame() -> None:
    """The path is what the parentheses hold, without its line number."""
    assert stages.frame_path("sign_envelope (/srv/app/security/wsse/sign.py:42)") == (
        "/srv/app/security/wsse/sign.py"
    )
    assert stages.frame_path("<module> (<frozen runpy>:88)") == "<frozen runpy>"
    assert stages.frame_path('process 1234:"python"') == ""


def test_each_stage_is_named_by_its_module_paths() -> None:
    """Project modules, libraries and the standard library each map to their stage."""
    expected = {
        f"{REPO}/security/http_signatures/verify.py": "rfc9421",
        f"{REPO}/security/wsse/sign.py": "ws_security",
        f"{REPO}/store/message_log/writer.py": "log_writes",
        f"{SITE}/aiosqlite/core.py": "log_writes",
        f"{STDLIB}/sqlite3/dbapi2.py": "log_writes",
        f"{REPO}/connectors/resilience.py": "resilience",
        f"{REPO}/security/asgi.py": "middleware",
        f"{REPO}/adapter_api/request_id.py": "middleware",
        f"{REPO}/adapter_api/routes/citizens.py": "route",
        f"{REPO}/connectors/soap.py": "answer_reading",
        f"{SITE}/fastapi/routing.py": "fastapi",
        f"{SITE}/starlette/routing.py": "fastapi",
        f"{SITE}/uvicorn/protocols/http/httptools_impl.py": "server_loop_client",
        f"{REPO}/connectors/http_client.py": "server_loop_client",
        f"{STDLIB}/asyncio/events.py": "server_loop_client",
        f"{REPO}/lienthong/server.py": "server_loop_client",
        f"{REPO}/connectors/exchange.py": "connector",
        f"{REPO}/bench/floor_log.py": "log_writes",
        f"{REPO}/bench/floor_server.py": "server_loop_client",
    }
    for path, stage in expected.items():
        assert stages.stage_of_path(path) == stage, path
    assert stages.stage_of_path(f"{STDLIB}/hashlib.py") is None
    assert stages.stage_of_path(f"{SITE}/pydantic/main.py") is None


def test_the_innermost_named_frame_decides() -> None:
    """A leaf in an unnamed module (hashlib) is charged to its nearest named caller."""
    stack = [
        frame("run", f"{SITE}/uvicorn/server.py"),
        frame("__call__", f"{SITE}/starlette/routing.py"),
        frame("lookup", f"{REPO}/adapter_api/routes/citizens.py"),
        frame("call", f"{REPO}/connectors/soap.py"),
        frame("sign_envelope", f"{REPO}/security/wsse/sign.py"),
        frame("digest", f"{STDLIB}/hashlib.py"),
    ]
    assert stages.stage_of_stack(stack) == "ws_security"
    assert stages.stage_of_stack(stack[:4]) == "answer_reading"
    assert stages.stage_of_stack(stack[:3]) == "route"
    assert stages.stage_of_stack([frame("digest", f"{STDLIB}/hashlib.py")]) == "other"
    assert stages.stage_of_stack([]) == "other"


def test_counts_and_shares_from_collapsed_output() -> None:
    """Each line's samples go to its stack's stage; shares sum to one over every stage."""
    uvicorn = frame("run", f"{SITE}/uvicorn/server.py")
    collapsed = "\n".join(
        [
            f"{uvicorn};{frame('verify', f'{REPO}/security/http_signatures/verify.py')} 30",
            f"{uvicorn};{frame('write_batch', f'{REPO}/store/message_log/writer.py')} 50",
            f"{frame('run', f'{SITE}/aiosqlite/core.py')} 20",
            f"{uvicorn} 100",
            "not a stack line",
            "",
        ]
    )
    counts = stages.count_stages(collapsed)
    assert counts == {"rfc9421": 30, "log_writes": 70, "server_loop_client": 100}
    share = stages.shares(counts)
    assert list(share) == list(stages.STAGES)
    assert share["log_writes"] == 0.35
    assert abs(sum(share.values()) - 1.0) < 1e-9
    assert stages.shares({}) == dict.fromkeys(stages.STAGES, 0.0)


def test_floor_stages_are_stages() -> None:
    """Every stage the floor contains is one the classifier can give."""
    assert set(stages.FLOOR_STAGES) <= set(stages.STAGES)


def test_only_the_main_thread_is_classified() -> None:
    """Stacks of threads started by ``threading`` (SQLite's driver threads) are skipped."""
    thread = frame("_bootstrap", f"{STDLIB}/threading.py")
    worker = frame("_connection_worker_thread", f"{SITE}/aiosqlite/core.py")
    main = frame("run", f"{SITE}/uvicorn/server.py")
    collapsed = f"{thread};{worker} 40\n{main} 10\n"
    assert stages.is_other_thread([thread, worker])
    assert not stages.is_other_thread([main])
    assert stages.count_stages(collapsed) == {"server_loop_client": 10}
    assert stages.count_stages(collapsed, main_thread_only=False) == {
        "server_loop_client": 10,
        "log_writes": 40,
    }


def test_the_integrated_floor_counts_its_commits_whole() -> None:
    """The integrated floor commits on its event loop: the commits' counted CPU is the log
    writes', the rest of the loop's CPU is divided as the samples outside the log writes."""
    spec = importlib.util.spec_from_file_location("adapter_profile", BENCH / "adapter_profile.py")
    assert spec is not None
    assert spec.loader is not None
    profile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(profile)
    server = frame("__call__", f"{REPO}/bench/floor_server.py")
    collapsed = "\n".join(
        [
            f"{server};{frame('verify', f'{REPO}/security/http_signatures/verify.py')} 30",
            f"{server};{frame('commit', f'{REPO}/bench/floor_log.py')} 50",
            f"{server} 10",
            f"{frame('run', f'{SITE}/uvicorn/server.py')} 20",
        ]
    )
    figures = profile.integrated_stage_figures(collapsed, 1.0, 0.05, 0.4)
    ms = figures["ms_per_lookup"]
    assert figures["samples"] == 110
    assert ms["log_writes"] == 0.45
    assert ms["rfc9421"] == 0.3
    assert ms["server_loop_client"] == 0.3
    assert abs(sum(ms.values()) - 1.05) < 1e-9
