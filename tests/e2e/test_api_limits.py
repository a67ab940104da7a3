"""Body limits per route and the caps on bodies in flight, on the adapter over real HTTP."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.api_harness import Sandbox, running_sandbox

VERIFY = "/v1/citizens/verify"
BODY = (
    b'{"citizen_id": "001085000123", "full_name": "Nguyen Van An", "date_of_birth": "1985-01-01"}'
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """The adapter with small caps: 2 bodies in flight per client, 3 in all."""
    with running_sandbox(
        tmp_path_factory.mktemp("api_limits"),
        dev_keys,
        max_bodies_in_flight=3,
        max_bodies_in_flight_per_client=2,
        run_worker=False,
    ) as running:
        yield running


def _port(sandbox: Sandbox) -> int:
    return int(sandbox.base_url.rsplit(":", 1)[1])


def _signed_head(
    sandbox: Sandbox, party: str, body: bytes, *, length: int | None = None, chunked: bool = False
) -> bytes:
    """The head of a POST /v1/citizens/verify that ``party`` signed over ``body``."""
    port = _port(sandbox)
    url = f"http://127.0.0.1:{port}{VERIFY}"
    signed = sandbox.signer(party).sign_request(
        "POST", url, {"content-type": "application/json"}, body
    )
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length or len(body)}"
    lines = [f"POST {VERIFY} HTTP/1.1", f"Host: 127.0.0.1:{port}", framing]
    lines += ["Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in signed.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, object]]:
    sock.settimeout(15)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "closed without an answer"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    assert headers["content-type"] == "application/problem+json"
    return int(lines[0].split()[1]), headers, json.loads(body)


def _held(sandbox: Sandbox, party: str) -> socket.socket:
    """A signed request from ``party`` whose body is half-sent (held in flight)."""
    sock = socket.create_connection(("127.0.0.1", _port(sandbox)), timeout=10)
    sock.sendall(_signed_head(sandbox, party, BODY) + BODY[:20])
    return sock


def test_a_declared_length_over_the_route_limit_is_refused_before_the_body(
    sandbox: Sandbox,
) -> None:
    """A signed verify declaring 100 kB (its route takes 16 KiB) is answered 413 body_too_large
    at once, with the body still unsent, and the connection is closed."""
    with socket.create_connection(("127.0.0.1", _port(sandbox)), timeout=10) as sock:
        sock.sendall(_signed_head(sandbox, "province-app", BODY, length=100_000))
        status, headers, problem = _answer(sock)
    assert status == 413
    assert problem["code"] == "body_too_large"
    assert headers["connection"] == "close"


def test_a_chunked_body_is_cut_off_at_the_route_limit(sandbox: Sandbox) -> None:
    """A signed chunked body that grows past its route's 16 KiB is refused 413 body_too_large
    once the limit is passed (the rest is never read)."""
    big = b"{" + b" " * 40_000 + b"}"
    with socket.create_connection(("127.0.0.1", _port(sandbox)), timeout=10) as sock:
        sock.sendall(_signed_head(sandbox, "province-app", big, chunked=True))
        for start in range(0, 24_000, 4_000):
            piece = big[start : start + 4_000]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        status, _, problem = _answer(sock)
    assert status == 413
    assert problem["code"] == "body_too_large"


def test_bodies_in_flight_are_capped_per_client_and_in_all(sandbox: Sandbox) -> None:
    """With two bodies of province-app in flight its third is refused 429 client_busy, and with
    three in flight a fourth client's is refused 503 server_busy, both at once with
    Retry-After; once the held bodies go, a body gets past the front door again (to the route's
    own validation, which wants X-User-Id and X-Issue)."""
    held = [_held(sandbox, "province-app"), _held(sandbox, "province-app")]
    try:
        time.sleep(0.3)  # the server has taken the held requests' heads
        with socket.create_connection(("127.0.0.1", _port(sandbox)), timeout=10) as sock:
            sock.sendall(_signed_head(sandbox, "province-app", BODY) + BODY)
            status, headers, problem = _answer(sock)
        assert (status, problem["code"]) == (429, "client_busy")
        assert headers["retry-after"] == "1"
        held.append(_held(sandbox, "integrator"))
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", _port(sandbox)), timeout=10) as sock:
            sock.sendall(_signed_head(sandbox, "ministry", BODY) + BODY)
            status, headers, problem = _answer(sock)
        assert (status, problem["code"]) == (503, "server_busy")
        assert headers["retry-after"] == "1"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:
        with sandbox.client("integrator") as client:
            response = client.post(
                VERIFY, content=BODY, headers={"content-type": "application/json"}
            )
        if response.status_code not in (429, 503) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"


@pytest.mark.parametrize(
    ("name", "value"),
    [("LIENTHONG_BODY_LIMITS", '{"POST": 10}'), ("LIENTHONG_HEADER_TIMEOUT_SECONDS", "0")],
)
def test_a_bad_limit_setting_stops_serve_in_one_line(tmp_path: Path, name: str, value: str) -> None:
    """A body limit that is not 'METHOD /path', or a deadline of 0, ends ``serve`` with one
    line naming the setting and where it came from (exit 2, as for any bad setting), before
    anything is created."""
    from click.testing import CliRunner

    from lienthong.serve import serve

    keys = tmp_path / "keys"
    result = CliRunner().invoke(serve, ["--keys", str(keys)], env={name: value})
    assert result.exit_code == 2
    setting = name.removeprefix("LIENTHONG_").lower()
    assert result.output.startswith(f"Error: setting '{setting}' from {name}:"), result.output
    assert "Traceback" not in result.output
    assert not keys.exists()
