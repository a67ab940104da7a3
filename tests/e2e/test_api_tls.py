"""TLS: ``serve`` terminates it (with and without client certificates, one process or two), and
signatures still verify when a TLS-terminating proxy forwards over plain HTTP."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from security.http_signatures import HttpVerifier, RequestView, TrustedKeyDirectory
from security.pki import init_dev_pki
from security.trust import TrustStore
from tests.e2e.api_harness import Sandbox, running_sandbox
from tests.support.adapter_process import running_adapter
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


def _trusting(keys: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(keys / "ca" / "cert.pem"))


def _with_certificate(keys: Path, party: str = "province-app") -> ssl.SSLContext:
    context = _trusting(keys)
    context.load_cert_chain(str(keys / party / "cert.pem"), str(keys / party / "key.pem"))
    return context


def test_the_sandbox_serves_https_with_the_development_pki(tmp_path: Path) -> None:
    """``serve --tls`` in sandbox: the adapter's TLS certificate (made by keys init) is trusted
    through the dev CA and names 127.0.0.1; signed calls are answered over HTTPS; a client that
    does not trust the dev CA, or speaks plain HTTP, gets nothing."""
    with running_adapter(tmp_path, "--tls", tls=_trusting) as adapter:
        keys = adapter.keys
        with adapter.client(verify=_trusting(keys)) as client:
            served = client.get("/v1/services")
        assert served.status_code == 200
        assert served.url.scheme == "https"
        with pytest.raises(httpx.ConnectError):
            httpx.get(adapter.base_url + "/healthz", timeout=5)  # the system's CAs only
        plain = adapter.base_url.replace("https://", "http://")
        with pytest.raises(httpx.TransportError):
            httpx.get(plain + "/healthz", timeout=5)


def test_client_certificates_are_required_from_the_configured_ca(tmp_path: Path) -> None:
    """``--tls-cert/--tls-key/--tls-client-ca`` with two workers: a client without a certificate
    cannot complete the handshake; one with a dev-PKI certificate is served."""
    keys = tmp_path / "keys"
    init_dev_pki(keys)
    args = (
        "--workers", "2",
        "--tls-cert", str(keys / "adapter" / "tls-cert.pem"),
        "--tls-key", str(keys / "adapter" / "tls-key.pem"),
        "--tls-client-ca", str(keys / "ca" / "cert.pem"),
    )  # fmt: skip
    with running_adapter(tmp_path, *args, tls=_with_certificate) as adapter:
        with (
            pytest.raises(httpx.TransportError),
            adapter.client(verify=_trusting(keys)) as client,
        ):
            client.get("/v1/services")
        with adapter.client(verify=_with_certificate(keys)) as client:
            answers = [client.get("/v1/services").status_code for _ in range(4)]
    assert answers == [200] * 4


def test_tls_settings_that_cannot_work_stop_serve_in_one_line(tmp_path: Path) -> None:
    """A client CA without a server certificate, or a key without its certificate, is refused
    at start with one readable line (exit 1), not a traceback."""
    from click.testing import CliRunner

    from lienthong.serve import serve

    keys = tmp_path / "keys"
    init_dev_pki(keys)
    base = ["--keys", str(keys), "--data", str(tmp_path / "data"), "--port", str(free_port())]
    for extra in (
        ["--tls-client-ca", str(keys / "ca" / "cert.pem")],
        ["--tls-key", str(keys / "adapter" / "tls-key.pem")],
    ):
        result = CliRunner().invoke(serve, [*base, *extra])
        assert result.exit_code == 1, result.output
        assert "cannot start" in result.output
        assert "Traceback" not in result.output


@contextmanager
def tls_terminating_proxy(upstream_port: int, keys: Path) -> Iterator[int]:
    """A TLS terminator on 127.0.0.1 (the dev PKI's adapter TLS certificate) that forwards the
    decrypted bytes to ``upstream_port`` over plain TCP, as a load balancer in TCP mode does."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(keys / "adapter" / "tls-cert.pem", keys / "adapter" / "tls-key.pem")
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def main() -> asyncio.Server:
        return await asyncio.start_server(handle, "127.0.0.1", port, ssl=context)

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(main())
        started.set()
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """The adapter speaking plain HTTP (behind the proxy), answering for its public name."""
    with running_sandbox(
        tmp_path_factory.mktemp("api_tls"),
        dev_keys,
        run_worker=False,
        public_authorities=["adapter.example.vn"],
    ) as running:
        yield running


def test_signatures_verify_behind_a_tls_terminating_proxy(sandbox: Sandbox, dev_keys: Path) -> None:
    """A client signs for the adapter's public name over HTTPS; a TLS terminator forwards the
    request over plain HTTP with its Host intact; the adapter verifies it (no @scheme is
    covered, @authority is the public one) and the client verifies the signed answer."""
    public = "https://adapter.example.vn/v1/services"
    signer = sandbox.signer("province-app")
    signed = signer.sign_request("GET", public, {"host": "adapter.example.vn"}, b"")
    headers = {"host": "adapter.example.vn", **signed}
    upstream_port = int(sandbox.base_url.rsplit(":", 1)[1])
    with tls_terminating_proxy(upstream_port, dev_keys) as port:
        response = httpx.get(
            f"https://127.0.0.1:{port}/v1/services",
            headers=headers,
            verify=_trusting(dev_keys),
            timeout=15,
        )
    assert response.status_code == 200, response.text
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    verifier = HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None)
    signer_of_answer = verifier.verify_response(
        response.status_code,
        response.headers,
        response.content,
        request=RequestView("GET", public, headers),
    )
    assert signer_of_answer == "adapter"
