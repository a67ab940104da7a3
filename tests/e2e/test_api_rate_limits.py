"""Rate limits over real HTTP: 429 with Retry-After and RateLimit fields, counted for all the
workers of ``serve --workers 2``, and the daily verify budget per citizen and client."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.api_harness import OFFICIAL, Sandbox, dossier_body, new_dossier_code, running_sandbox
from tests.support.servers import free_port


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """The adapter with a verify budget of 3 tries per citizen per client per day."""
    with running_sandbox(
        tmp_path_factory.mktemp("api_rate_limits"), dev_keys, verify_daily_budget=3
    ) as running:
        yield running


def _dossier_of(sandbox: Sandbox, citizen: dict[str, Any]) -> str:
    """A dossier of the province whose applicant is ``citizen`` (the verify's purpose)."""
    code = new_dossier_code()
    body = {
        **dossier_body(code),
        "applicant_id": citizen["citizen_id"],
        "applicant_name": citizen["full_name"],
    }
    with sandbox.client("province-app") as client:
        response = client.put(f"/v1/dossiers/{code}", json=body)
    assert response.status_code == 201, response.text
    return code


def test_a_citizen_can_be_verified_only_so_often_a_day(sandbox: Sandbox) -> None:
    """Three verify tries of one citizen by one client are answered (whatever the dates);
    the fourth is 429 verify_budget_spent with Retry-After and RateLimit fields, before the
    population database is asked; another citizen still can be verified."""
    first, second = sandbox.citizens(2)
    issues = {"X-User-Id": OFFICIAL, "X-Issue": _dossier_of(sandbox, first)}
    guesses = ["1990-01-01", "1990-01-02", "1990-01-03", first["date_of_birth"]]
    answers = []
    with sandbox.client("province-app") as client:
        for guess in guesses:
            body = {**{k: first[k] for k in ("citizen_id", "full_name")}, "date_of_birth": guess}
            answers.append(client.post("/v1/citizens/verify", json=body, headers=issues))
        other_issue = {"X-User-Id": OFFICIAL, "X-Issue": _dossier_of(sandbox, second)}
        other = client.post(
            "/v1/citizens/verify",
            json={k: second[k] for k in ("citizen_id", "full_name", "date_of_birth")},
            headers=other_issue,
        )
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "verify_budget_spent"
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["ratelimit-policy"] == '"citizens.verify.citizen";q=3;w=86400'
    assert refused.headers["ratelimit"].startswith('"citizens.verify.citizen";r=0;t=')
    assert first["citizen_id"] not in refused.text
    assert (other.status_code, other.json()) == (200, {"match": True})


CLIENTS = """\
[[clients]]
id = "province-app"
role = "province"
certificate = "keys/province-app/cert.pem"
rate_limits = {{ "services.read" = "{calls}/3600" }}
"""


def _workers(supervisor: int) -> dict[str, int]:
    """The worker processes of ``serve --workers`` by name (``lienthong-w0`` …)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    found = {}
    for pid in children:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("lienthong-w"):
            found[name] = int(pid)
    return found


def _state(pid: int) -> str:
    """The process state letter of ``pid`` (``T``: stopped by a signal)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


@pytest.mark.slow
def test_a_rate_limit_is_counted_for_all_workers(tmp_path: Path) -> None:
    """``serve --workers 2`` with services.read limited to 6 calls an hour for province-app:
    4 calls answered by worker 0 (worker 1 stopped), then 8 by worker 1 (worker 0 stopped) —
    worker 1 answers only the 2 left of the one count and refuses the rest 429 rate_limited
    with Retry-After and the RateLimit fields (counting alone, it would answer 6); every answer
    says what is left. The workers
    serve with the front door's deadlines too: a half-sent head gets 408 header_timeout."""
    calls = 6
    (tmp_path / "clients.toml").write_text(CLIENTS.format(calls=calls), encoding="utf-8")
    port, mock_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "lienthong.cli", "serve", "--workers", "2",
        "--port", str(port), "--mock-port", str(mock_port), "--keys", "keys",
        "--data", "data", "--clients", "clients.toml", "--log-level", "warning",
    ]  # fmt: skip
    environment = {
        **os.environ,
        "LIENTHONG_REPLAY_CACHE_URL": "",
        "LIENTHONG_RATE_KEY_PREFIX": f"test:{secrets.token_hex(6)}:",
        "LIENTHONG_HEADER_TIMEOUT_SECONDS": "1",
        # worker 0 is stopped by the test: its background services must hold no SQLite write
        # lock then, or worker 1 would wait for it (busy_timeout) and the client time out
        "LIENTHONG_RUN_WORKER": "false",
        "LIENTHONG_REFRESH_INTERVAL_SECONDS": "0",
        "LIENTHONG_LOG_ANCHOR_INTERVAL_SECONDS": "0",
        "LIENTHONG_TIMELINESS_BACKGROUND": "false",
    }
    process = subprocess.Popen(
        command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    stopped: list[int] = []

    def call() -> httpx.Response:
        with httpx.Client(base_url=base, auth=auth, timeout=15) as client:  # a new connection
            return client.get("/v1/services")

    def only(name: str) -> None:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stopped.clear()
        for other, pid in _workers(process.pid).items():
            if other != name:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        for pid in stopped:  # a signal is delivered asynchronously: wait until it has stopped
            until = time.monotonic() + 10
            while _state(pid) != "T" and time.monotonic() < until:
                time.sleep(0.01)

    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(base + "/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                ready = False
            if ready and len(_workers(process.pid)) == 2:
                break
            time.sleep(0.3)
        assert process.poll() is None
        from security.http_signatures import HttpSigner
        from security.httpx_auth import HttpSignatureAuth
        from security.keys import load_party

        auth = HttpSignatureAuth(HttpSigner(load_party(tmp_path / "keys", "province-app")))
        only("lienthong-w0")
        first = [call() for _ in range(4)]
        only("lienthong-w1")
        second = [call() for _ in range(8)]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"GET /v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            late = slow.recv(4096)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    assert [answer.status_code for answer in first] == [200] * 4
    assert [answer.headers["ratelimit"].split(";")[1] for answer in first] == [
        "r=5", "r=4", "r=3", "r=2",
    ]  # fmt: skip
    assert first[0].headers["ratelimit-policy"] == f'"services.read";q={calls};w=3600'
    assert [answer.status_code for answer in second] == [200] * 2 + [429] * 6
    refused = second[-1]
    assert refused.json()["code"] == "rate_limited"
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert refused.headers["ratelimit-policy"] == f'"services.read";q={calls};w=3600'
    assert refused.headers["ratelimit"] == f'"services.read";r=0;t={refused.headers["retry-after"]}'
    assert late.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"header_timeout"' in late
