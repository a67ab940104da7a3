"""``lienthong serve`` that cannot work stops in one line, non-zero, before touching a database:
a port in use (a second sandbox), keys that cannot be read, a bad clients file, a bad config."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import free_port


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port held by a listening socket, as a first sandbox would hold 8000."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def _serve(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LIENTHONG_")}
    script = Path(sys.executable).with_name("lienthong")
    return subprocess.run(
        [str(script), "serve", "--data", str(folder / "data"), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line_failure(result: subprocess.CompletedProcess[str], folder: Path) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / "data").exists()  # the database was not touched
    return lines[0]


def test_a_second_sandbox_on_a_busy_port_fails_in_one_line(
    tmp_path: Path, dev_keys: Path, busy_port: int
) -> None:
    """The adapter's port is taken: one line naming it, exit 1, no banner, no migration."""
    shutil.copytree(dev_keys, tmp_path / "keys")
    result = _serve(
        tmp_path, "--keys", str(tmp_path / "keys"), "--port", str(busy_port), "--mock-port", "0"
    )
    line = _one_line_failure(result, tmp_path)
    assert line == f"Error: cannot start: port {busy_port} on 127.0.0.1 (adapter) is in use"
    assert result.stdout == ""


def test_the_mocks_port_busy_fails_too(tmp_path: Path, dev_keys: Path, busy_port: int) -> None:
    """In sandbox the mock endpoints' port is checked as well."""
    shutil.copytree(dev_keys, tmp_path / "keys")
    result = _serve(
        tmp_path,
        "--keys",
        str(tmp_path / "keys"),
        "--port",
        str(free_port()),
        "--mock-port",
        str(busy_port),
    )
    line = _one_line_failure(result, tmp_path)
    assert line.endswith(f"port {busy_port} on 127.0.0.1 (mock endpoints) is in use")


def test_unreadable_keys_fail_in_one_line(tmp_path: Path, dev_keys: Path) -> None:
    """A key file that does not hold a key: one line naming the party and the folder."""
    shutil.copytree(dev_keys, tmp_path / "keys")
    (tmp_path / "keys" / "adapter" / "key.pem").write_text("garbage", encoding="utf-8")
    result = _serve(tmp_path, "--keys", str(tmp_path / "keys"), "--port", str(free_port()))
    line = _one_line_failure(result, tmp_path)
    assert line.startswith(
        f"Error: cannot start: cannot load the keys of 'adapter' from {tmp_path}"
    )


def test_a_bad_clients_file_fails_in_one_line(tmp_path: Path, dev_keys: Path) -> None:
    """A clients file that is not JSON: one line, before the database."""
    shutil.copytree(dev_keys, tmp_path / "keys")
    clients = tmp_path / "clients.json"
    clients.write_text("{", encoding="utf-8")
    result = _serve(
        tmp_path,
        "--keys",
        str(tmp_path / "keys"),
        "--port",
        str(free_port()),
        "--clients",
        str(clients),
    )
    line = _one_line_failure(result, tmp_path)
    assert line.startswith("Error: cannot start: clients file: ")


def test_a_bad_config_fails_with_exit_2(tmp_path: Path) -> None:
    """A config file that is not TOML: one line, exit 2."""
    config = tmp_path / "lienthong.toml"
    config.write_text("[broken", encoding="utf-8")
    result = _serve(tmp_path, "--config", str(config))
    line = _one_line_failure(result, tmp_path)
    assert result.returncode == 2
    assert line.startswith(f"Error: config file {config} is not valid TOML")
