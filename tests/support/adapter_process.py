"""``lienthong serve`` as its own process for end-to-end tests: started, waited for, stopped."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from security.http_signatures import HttpSigner
from security.httpx_auth import HttpSignatureAuth
from security.keys import load_party
from tests.support.servers import free_port


@dataclass
class AdapterProcess:
    """A running ``lienthong serve`` (sandbox) and where it answers."""

    process: subprocess.Popen[str]
    base_url: str
    port: int
    keys: Path

    def rss_bytes(self, pid: int | None = None) -> int:
        """The resident memory of the serve process (or of ``pid``), from ``/proc``."""
        status = Path(f"/proc/{pid or self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    def signer(self, party: str = "province-app") -> HttpSigner:
        """A signer for ``party``'s development key."""
        return HttpSigner(load_party(self.keys, party), ttl=60)

    def client(self, party: str = "province-app", **kwargs: object) -> httpx.Client:
        """An ``httpx.Client`` signing as ``party``."""
        options: dict[str, object] = {"timeout": 15, **kwargs}
        return httpx.Client(
            base_url=self.base_url,
            auth=HttpSignatureAuth(self.signer(party)),
            **options,  # type: ignore[arg-type]
        )

    def dev_ca(self) -> ssl.SSLContext:
        """A TLS context trusting the development CA (for ``--tls``)."""
        return ssl.create_default_context(cafile=str(self.keys / "ca" / "cert.pem"))


def _ready(base_url: str, verify: ssl.SSLContext | bool = True) -> bool:
    try:
        return httpx.get(base_url + "/readyz", timeout=2, verify=verify).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def running_adapter(
    root: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    tls: Callable[[Path], ssl.SSLContext] | None = None,
) -> Iterator[AdapterProcess]:
    """``lienthong serve`` in sandbox mode under ``root`` with ``args`` and ``LIENTHONG_*``
    settings from ``env``, until the block ends (then SIGTERM; killed if it lingers).

    ``tls``: the adapter serves HTTPS; readiness is asked with the context it makes from the
    key folder (once the sandbox has made it)."""
    port, mock_port = free_port(), free_port()
    keys = root / "keys"
    command = [
        sys.executable, "-m", "lienthong.cli", "serve",
        "--port", str(port), "--mock-port", str(mock_port),
        "--keys", str(keys), "--data", str(root / "data"), "--log-level", "warning", *args,
    ]  # fmt: skip
    environment = {**os.environ, "LIENTHONG_REPLAY_CACHE_URL": "", **(env or {})}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=root,
        env=environment,
    )
    scheme = "https" if tls is not None else "http"
    running = AdapterProcess(process, f"{scheme}://127.0.0.1:{port}", port, keys)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            if tls is None:
                if _ready(running.base_url):
                    break
            elif (keys / "adapter" / "tls-cert.pem").is_file() and _ready(
                running.base_url, tls(keys)
            ):
                break
            time.sleep(0.3)
        assert process.poll() is None, process.communicate()[0]
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


__all__ = ["AdapterProcess", "running_adapter"]
