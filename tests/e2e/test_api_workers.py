"""``lienthong serve --workers N``: several adapter processes on one port, as operators run it."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from lienthong.serve import serve
from security.http_signatures import HttpSigner
from security.httpx_auth import HttpSignatureAuth
from security.keys import load_party
from tests.support.servers import free_port

CALLS = 60


@dataclass
class Running:
    """A ``serve --workers`` process tree and where it answers."""

    process: subprocess.Popen[str]
    base_url: str
    keys: Path

    def workers(self) -> dict[str, int]:
        """The worker processes by name (``lienthong-w0`` …), children of the supervisor."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        names = {int(pid): _name(int(pid)) for pid in children.read_text().split()}
        return {name: pid for pid, name in names.items() if name.startswith("lienthong-w")}

    def client(self) -> httpx.Client:
        """A client signing as ``province-app`` (a new connection per client)."""
        signer = HttpSigner(load_party(self.keys, "province-app"), ttl=60)
        return httpx.Client(base_url=self.base_url, auth=HttpSignatureAuth(signer), timeout=10)

    def served(self, route: str) -> float:
        """``lienthong_http_requests_total`` of ``route`` (status 200) as ``/metrics`` says."""
        text = httpx.get(self.base_url + "/metrics", timeout=10).text
        pattern = (
            rf'lienthong_http_requests_total\{{[^}}]*route="{re.escape(route)}"[^}}]*\}} (\S+)'
        )
        return sum(float(value) for value in re.findall(pattern, text))


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _command(port: int, mock_port: int, keys: Path, data: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "lienthong.cli", "serve", "--workers", "2",
        "--port", str(port), "--mock-port", str(mock_port),
        "--keys", str(keys), "--data", str(data), "--log-level", "info", *extra,
    ]  # fmt: skip


def _wait_until(condition: object, seconds: float = 60.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(base_url + "/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def running_workers(tmp_path: Path, redis_url: str | None) -> Iterator[Running]:
    """``serve --workers 2`` in sandbox mode, nonces shared through Redis when ``redis_url`` is
    given, else through the supervisor's shared-memory table; stopped with SIGTERM."""
    port, mock_port = free_port(), free_port()
    keys = tmp_path / "keys"
    environment = {
        **os.environ,
        "LIENTHONG_REPLAY_CACHE_URL": redis_url or "",
        "LIENTHONG_RATE_KEY_PREFIX": f"test:{secrets.token_hex(6)}:",  # rate counters in Redis
    }
    process = subprocess.Popen(
        _command(port, mock_port, keys, tmp_path / "data"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=environment,
    )
    running = Running(process, f"http://127.0.0.1:{port}", keys)
    try:
        _wait_until(lambda: process.poll() is not None or _ready(running.base_url))
        assert process.poll() is None, process.communicate()[0]
        _wait_until(lambda: len(running.workers()) == 2)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def test_a_worker_count_out_of_range_is_refused_in_one_line(tmp_path: Path) -> None:
    """``--workers 0`` is a usage error (exit 2) that names the option, and creates nothing."""
    keys, data = tmp_path / "keys", tmp_path / "data"
    result = CliRunner().invoke(serve, ["--workers", "0", "--keys", str(keys), "--data", str(data)])
    assert result.exit_code == 2
    assert "--workers" in result.output
    assert not keys.exists()
    assert not data.exists()


@pytest.mark.slow
@pytest.mark.parametrize("nonces", ["shared memory", "redis"])
def test_workers_share_the_port_the_nonces_and_the_counts(
    tmp_path: Path, nonces: str, request: pytest.FixtureRequest
) -> None:
    """Two workers answer on one port; a replay is refused whichever worker it reaches (nonces
    in the supervisor's shared-memory table, or in Redis); /metrics adds up both; a killed worker
    is started again and the counts it made are kept; SIGTERM stops all of them cleanly and
    removes the table; the sync worker and the mocks run once."""
    redis_url = request.getfixturevalue("redis_url") if nonces == "redis" else None
    tables_before = set(Path("/dev/shm").glob("lienthong-nonces-*"))
    with running_workers(tmp_path, redis_url) as running:
        tables = set(Path("/dev/shm").glob("lienthong-nonces-*")) - tables_before
        assert len(tables) == (1 if redis_url is None else 0)

        def call(_: int) -> int:
            with running.client() as client:
                return client.get("/v1/services").status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(call, range(CALLS)))
        assert statuses == [200] * CALLS
        for _ in range(4):  # whichever worker answers the scrape counts both
            assert running.served("/v1/services") == CALLS

        signer = HttpSigner(load_party(running.keys, "province-app"), ttl=60)
        url = running.base_url + "/v1/services"
        headers = signer.sign_request("GET", url, {}, b"")
        answers = [httpx.get(url, headers=headers, timeout=10) for _ in range(8)]
        assert answers[0].status_code == 200
        for replayed in answers[1:]:  # fresh connections: any worker may take them
            assert replayed.status_code == 401
            assert replayed.json()["code"] == "replayed_nonce"

        before = running.workers()
        assert sorted(before) == ["lienthong-w0", "lienthong-w1"]
        os.kill(before["lienthong-w1"], signal.SIGKILL)
        _wait_until(lambda: len(running.workers()) == 2 and running.workers() != before)
        _wait_until(lambda: _ready(running.base_url))
        assert running.served("/v1/services") >= CALLS + 1
        exposition = httpx.get(running.base_url + "/metrics", timeout=10).text
        assert 'lienthong_worker_restarts_total{worker="1"} 1.0' in exposition
        process = running.process
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=40)
    assert process.returncode == 0, output
    assert "use PostgreSQL" in output  # the sandbox's SQLite store: told at start
    assert "starting it again" in output
    assert output.count("mock-endpoints serving") == 1
    assert len(re.findall(r"sync worker \S+ starting", output)) == 1
    assert not [pid for pid in before.values() if Path(f"/proc/{pid}").exists()]
    assert not [table for table in tables if table.exists()]


@pytest.mark.slow
def test_a_worker_that_cannot_start_stops_the_server(tmp_path: Path) -> None:
    """A configuration every worker would fail on (a broken clients file) ends ``serve`` with
    status 1 and says why in one line, before any worker starts (or the database is touched)."""
    clients = tmp_path / "clients.toml"
    clients.write_text('[[clients]]\nid = "x"\nrole = "no-such-role"\n', encoding="utf-8")
    command = _command(
        free_port(), free_port(), tmp_path / "keys", tmp_path / "data", "--clients", str(clients)
    )
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "LIENTHONG_REPLAY_CACHE_URL": ""},
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "Error: cannot start: clients file: client 'x': unknown role" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "data").exists()


def test_the_supervisor_does_not_import_prometheus_before_its_folder_is_set() -> None:
    """prometheus_client picks its multiprocess mode once, when imported: importing ``serve``
    and the workers' module must not import it (the supervisor sets PROMETHEUS_MULTIPROC_DIR
    first), and both modules name the same variable."""
    from adapter_api.metrics import MULTIPROCESS_VARIABLE
    from lienthong import workers

    assert workers.MULTIPROCESS_VARIABLE == MULTIPROCESS_VARIABLE
    probe = (
        "import sys, lienthong.serve, lienthong.workers; print('prometheus_client' in sys.modules)"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "False"
