"""``lienthong serve`` as integrators run it: a fresh folder, sandbox defaults, Ctrl-C stops it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from security.http_signatures import HttpSigner
from security.httpx_auth import HttpSignatureAuth
from security.keys import load_party
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


def test_serve_creates_keys_starts_mocks_and_answers_signed_calls(tmp_path: Path) -> None:
    """On first run the sandbox makes the keys and data, serves the API and the mocks, and stops."""
    port, mock_port = free_port(), free_port()
    keys, data = tmp_path / "keys", tmp_path / "data"
    command = [
        sys.executable, "-m", "lienthong.cli", "serve",
        "--port", str(port), "--mock-port", str(mock_port),
        "--keys", str(keys), "--data", str(data), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(base + "/readyz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert ready is not None, "the adapter did not come up"
        assert ready.status_code == 200
        assert (keys / "province-app" / "key.pem").is_file()
        assert (data / "lienthong.db").is_file()
        signer = HttpSigner(load_party(keys, "province-app"))
        with httpx.Client(base_url=base, auth=HttpSignatureAuth(signer)) as client:
            services = client.get("/v1/services")
        assert services.status_code == 200
        mock = httpx.get(f"http://127.0.0.1:{mock_port}/_admin/population/citizens?limit=1")
        assert mock.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output
    assert f"http://127.0.0.1:{mock_port}/population/soap" in output
    assert str(keys.resolve()) in output
