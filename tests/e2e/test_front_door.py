"""The front door of ``lienthong serve`` (its own process) against strangers: nothing unsigned
costs memory, half-sent heads and bodies are cut off, oversized heads get problem documents.

Figures (memory held, requests refused, time to refuse) are printed with ``-s``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.adapter_process import AdapterProcess, running_adapter

pytestmark = pytest.mark.slow

ATTACKERS = 100
DECLARED = 9_500_000
#: what the adapter may grow by while 100 unsigned 9.5 MB bodies are held open against it
#: (the bodies themselves would be 906 MiB; uvicorn buffers at most 64 KiB per connection)
MEMORY_BOUND = 48 * 1024 * 1024
CLAIMED_CAP = 40
CLAIMED_BODY = 200_000


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdapterProcess]:
    """One adapter with short deadlines (1 s for headers, 2 s for a body), a 16 MiB route limit
    for dossiers (so a 9.5 MB body is within the limit: only the signature stops it) and 40
    bodies in flight per client."""
    settings = {
        "LIENTHONG_HEADER_TIMEOUT_SECONDS": "1",
        "LIENTHONG_BODY_TIMEOUT_SECONDS": "2",
        "LIENTHONG_MAX_BODY_BYTES": str(16 * 1024 * 1024),
        "LIENTHONG_MAX_BODIES_IN_FLIGHT_PER_CLIENT": str(CLAIMED_CAP),
        "LIENTHONG_RUN_WORKER": "false",
    }
    with running_adapter(tmp_path_factory.mktemp("front_door"), env=settings) as running:
        yield running


def _connect(adapter: AdapterProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", adapter.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    return sock


def _response(sock: socket.socket, seconds: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the one response on ``sock`` (read until the peer closes
    or Content-Length is reached)."""
    sock.settimeout(seconds)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed without a complete response: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _closed(sock: socket.socket, seconds: float = 10.0) -> bool:
    """Whether the peer closes ``sock`` within ``seconds`` (what it sends first is read)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def _problem(status: int, headers: dict[str, str], body: bytes) -> dict[str, object]:
    assert headers["content-type"] == "application/problem+json", (status, headers)
    document = json.loads(body)
    assert isinstance(document, dict)
    assert document["status"] == status
    return document


def _unsigned_upload(adapter: AdapterProcess, keyid: str | None) -> tuple[int, str, float]:
    """One stranger: a PUT declaring 9.5 MB, sent but for its last byte (no signature, or one
    naming ``keyid``); returns the status and code answered and seconds to the answer."""
    body = memoryview(_BODY)
    signature = (
        ""
        if keyid is None
        else f'Signature-Input: sig1=("@method");created=1;expires=2;keyid="{keyid}";nonce="n"\r\n'
        "Signature: sig1=:AAAA:\r\n"
    )
    head = (
        "PUT /v1/dossiers/000.00.04.H04-261126-0001 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {DECLARED}\r\n{signature}\r\n"
    ).encode("ascii")
    sock = _connect(adapter)
    try:
        started = time.monotonic()
        sock.sendall(head + body[: 1 << 16])
        status, headers, answer = _response(sock)
        took = time.monotonic() - started
        code = str(_problem(status, headers, answer)["code"])
        assert headers.get("connection") == "close"
        # the rest but the last byte: the adapter has stopped reading and closes
        with contextlib.suppress(OSError):
            sock.sendall(body[1 << 16 : DECLARED - 1])
        return status, code, took
    finally:
        _HELD.append(sock)


_BODY = b"x" * DECLARED
_HELD: list[socket.socket] = []


@pytest.mark.parametrize("keyid", [None, "stranger"], ids=["no-signature", "unknown-key"])
def test_unsigned_large_bodies_cost_no_memory_and_signed_clients_are_served(
    adapter: AdapterProcess, keyid: str | None
) -> None:
    """100 strangers each declaring a 9.5 MB body (unsigned, or signed with an unknown keyid)
    are refused 401 before their bodies are read — while they hold their connections open the
    adapter grows by less than MEMORY_BOUND, and a signed client is served meanwhile."""
    rss_before = adapter.rss_bytes()
    try:
        with ThreadPoolExecutor(max_workers=ATTACKERS) as pool:
            results = list(pool.map(lambda _: _unsigned_upload(adapter, keyid), range(ATTACKERS)))
        rss_held = adapter.rss_bytes()
        with adapter.client() as client:
            served = client.get("/v1/services")
    finally:
        for sock in _HELD:
            sock.close()
        _HELD.clear()
    expected = "missing_signature" if keyid is None else "unknown_key"
    assert [(status, code) for status, code, _ in results] == [(401, expected)] * ATTACKERS
    assert served.status_code == 200
    grown = rss_held - rss_before
    slowest = max(took for _, _, took in results)
    print(
        f"\n{ATTACKERS} x {DECLARED} B ({keyid or 'unsigned'}): refused {len(results)}, "
        f"RSS {rss_before / 2**20:.0f} -> {rss_held / 2**20:.0f} MiB "
        f"(+{grown / 2**20:.1f} MiB), slowest refusal {slowest * 1000:.0f} ms"
    )
    assert grown < MEMORY_BOUND


def _claimed_upload(adapter: AdapterProcess) -> tuple[int, str, float]:
    """A stranger naming province-app with a forged signature: a 200 kB body within the route's
    limit, sent but for its last byte; the status and code answered, seconds to the answer."""
    forged = (
        'Signature-Input: sig1=("@method" "@authority" "@path" "@query" "content-type" '
        '"content-digest");created=1;expires=2;keyid="province-app";nonce="n"\r\n'
        "Signature: sig1=:AAAA:\r\nContent-Digest: sha-256=:AAAA:\r\n"
    )
    head = (
        "PUT /v1/dossiers/000.00.04.H04-261126-0001 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {CLAIMED_BODY}\r\n{forged}\r\n"
    ).encode("ascii")
    sock = _connect(adapter)
    started = time.monotonic()
    try:
        sock.sendall(head + memoryview(_BODY)[: CLAIMED_BODY - 1])
        status, headers, answer = _response(sock)
        return status, str(_problem(status, headers, answer)["code"]), time.monotonic() - started
    finally:
        sock.close()


def test_forged_signatures_naming_a_client_hold_no_more_than_its_cap(
    adapter: AdapterProcess,
) -> None:
    """100 strangers naming province-app (forged signatures) with 200 kB bodies sent but for
    the last byte: 40 (the client's cap) are let in and cut off at the body deadline (408), the
    other 60 refused at once (429 client_busy); the adapter grows by less than 40 bodies' worth
    plus MEMORY_BOUND's slack, and another client is served meanwhile."""
    rss_before = adapter.rss_bytes()
    peak = rss_before
    with ThreadPoolExecutor(max_workers=ATTACKERS) as pool:
        running = [pool.submit(_claimed_upload, adapter) for _ in range(ATTACKERS)]
        time.sleep(1.0)  # all sent: the held bodies are in the adapter now
        peak = max(peak, adapter.rss_bytes())
        with adapter.client("integrator") as client:
            served = client.get("/v1/services")
        results = [future.result() for future in running]
    codes = sorted((status, code) for status, code, _ in results)
    assert codes == [(408, "body_timeout")] * CLAIMED_CAP + [(429, "client_busy")] * (
        ATTACKERS - CLAIMED_CAP
    )
    assert served.status_code == 200
    refused = [took for status, _, took in results if status == 429]
    grown = peak - rss_before
    print(
        f"\n{ATTACKERS} forged x {CLAIMED_BODY} B: {len(refused)} refused 429 "
        f"(slowest {max(refused) * 1000:.0f} ms), {CLAIMED_CAP} cut off 408; "
        f"RSS {rss_before / 2**20:.0f} -> {peak / 2**20:.0f} MiB (+{grown / 2**20:.1f} MiB)"
    )
    assert grown < CLAIMED_CAP * CLAIMED_BODY + MEMORY_BOUND


def test_half_sent_headers_are_closed_after_the_header_timeout(adapter: AdapterProcess) -> None:
    """Connections that send half a head (or nothing) get 408 header_timeout as a problem
    document and are closed; without the deadline they would stay open."""
    socks = [_connect(adapter) for _ in range(50)]
    started = time.monotonic()
    for index, sock in enumerate(socks):
        if index % 2:
            sock.sendall(b"GET /v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    try:
        for sock in socks:
            status, headers, body = _response(sock)
            assert _problem(status, headers, body)["code"] == "header_timeout"
            assert status == 408
            assert _closed(sock)
        print(f"\n50 half-sent heads closed after {time.monotonic() - started:.1f} s")
    finally:
        for sock in socks:
            sock.close()


def test_a_body_that_does_not_arrive_in_time_is_cut_off(adapter: AdapterProcess) -> None:
    """A signed request whose body stops half-way gets 408 body_timeout and is closed; its
    place among the bodies in flight is given back (the client is served afterwards)."""
    signer = adapter.signer()
    url = adapter.base_url + "/v1/citizens/verify"
    body = b'{"citizen_id": "001085000123", "full_name": "A", "date_of_birth": "1985-01-01"}'
    headers = signer.sign_request("POST", url, {"content-type": "application/json"}, body)
    head = (
        f"POST /v1/citizens/verify HTTP/1.1\r\nHost: 127.0.0.1:{adapter.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    ) + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock = _connect(adapter)
    try:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body[:10])
        status, answer_headers, answer = _response(sock)
        assert status == 408
        assert _problem(status, answer_headers, answer)["code"] == "body_timeout"
        assert _closed(sock)
    finally:
        sock.close()
    with adapter.client() as client:
        assert client.get("/v1/services").status_code == 200


def test_many_requests_on_one_connection_each_get_their_own_head_limit(
    adapter: AdapterProcess,
) -> None:
    """120 requests of ~550-byte heads on one keep-alive connection, each head sent in three
    pieces, are all answered: the header block limit (32 KiB) counts each request's own head,
    not the connection's."""
    sock = _connect(adapter)
    padding = "x" * 500
    try:
        for _ in range(120):
            for piece in (b"GET /healthz HTTP/1.1\r\n", f"Host: x\r\nX-Pad: {padding}".encode()):
                sock.sendall(piece)
                time.sleep(0.005)
            sock.sendall(b"\r\n\r\n")
            status, headers, _ = _response(sock)
            assert status == 200, headers
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("head", "status", "code"),
    [
        (b"GET /v1/services?" + b"q" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
         "request_line_too_long"),
        (b"GET /v1/services HTTP/1.1\r\nHost: x\r\n" + b"X-Big: y\r\n" * 4000 + b"\r\n", 431,
         "headers_too_large"),
        (b"GET /v1/services HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 40_000 + b"\r\n\r\n", 431,
         "headers_too_large"),
        (b"\x00\x01 not http\r\n\r\n", 400, "malformed_request"),
    ],
    ids=["request-line", "many-headers", "long-header", "garbage"],
)  # fmt: skip
def test_oversized_or_malformed_heads_get_a_problem_document(
    adapter: AdapterProcess, head: bytes, status: int, code: str
) -> None:
    """A request line over 8 KiB, a header block over 32 KiB or bytes that are not HTTP get a
    problem document with a stable code (uvicorn alone answers text/plain) and a closed
    connection."""
    sock = _connect(adapter)
    try:
        # the refusal may come (and the connection close) before all of it is sent
        with contextlib.suppress(OSError):
            sock.sendall(head)
        answered, headers, body = _response(sock)
        assert answered == status
        assert _problem(answered, headers, body)["code"] == code
        assert _closed(sock)
    finally:
        sock.close()
