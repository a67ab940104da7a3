"""The RFC 9421 ASGI middleware driven in-process: what it sends and what it reads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from security.asgi import HttpSignatureMiddleware, Message, Receive, Scope, Send, SignatureGate
from security.http_signatures import (
    HttpSigner,
    HttpVerifier,
    RequestView,
    StaticKeyResolver,
    TrustedKeyDirectory,
    header_fields,
)
from security.keys import load_party
from security.replay import MemoryReplayCache
from security.trust import TrustStore

BODY = json.dumps({"citizen_id": "001085000123"}).encode()
PATH = "/v1/citizens/001085000123"


def _call(middleware: HttpSignatureMiddleware, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "headers": headers,
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    return sent


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    headers = [(b"Content-Type", b"application/json"), (b"content-digest", b"sha-256=:AAAA:")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def _setup(dev_keys: Path) -> tuple[HttpSignatureMiddleware, HttpSigner, HttpVerifier]:
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    client = load_party(dev_keys, "province-app")
    verifier = HttpVerifier(
        StaticKeyResolver({"province-app": client.certificate}, trust), MemoryReplayCache()
    )
    server = HttpSigner(load_party(dev_keys, "adapter"))
    middleware = HttpSignatureMiddleware(_app, verifier=verifier, signer=server)
    return middleware, HttpSigner(client), HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None)


def test_response_is_signed_with_its_own_digest_and_a_length(dev_keys: Path) -> None:
    """The app's stale Content-Digest is replaced, a length added, names lower-case; it verifies."""
    middleware, client, client_verifier = _setup(dev_keys)
    url = f"http://adapter.example{PATH}"
    signed = client.sign_request("GET", url, {}, b"")
    raw = [(b"host", b"adapter.example")]
    raw += [(name.lower().encode(), value.encode()) for name, value in signed.items()]
    start, body = _call(middleware, raw)
    assert start["status"] == 200
    assert body["body"] == BODY
    names = [name for name, _ in start["headers"]]
    assert names == [name.lower() for name in names]
    assert names.count(b"content-digest") == 1
    assert (b"content-length", str(len(BODY)).encode()) in start["headers"]
    answer = [(name.decode(), value.decode()) for name, value in start["headers"]]
    keyid = client_verifier.verify_response(
        200, answer, BODY, request=RequestView("GET", url, signed), expected_keyid="adapter"
    )
    assert keyid == "adapter"


def test_the_first_host_field_names_the_authority(dev_keys: Path) -> None:
    """With two Host fields the URL uses the first one as received, as it always did."""
    middleware, client, _ = _setup(dev_keys)
    signed = client.sign_request("GET", f"http://adapter.example{PATH}", {}, b"")
    raw = [(b"host", b"adapter.example"), (b"host", b"elsewhere.example")]
    raw += [(name.lower().encode(), value.encode()) for name, value in signed.items()]
    start, _ = _call(middleware, raw)
    assert start["status"] == 200
    signed = client.sign_request("GET", f"http://elsewhere.example{PATH}", {}, b"")
    raw = [(b"host", b"adapter.example"), (b"host", b"elsewhere.example")]
    raw += [(name.lower().encode(), value.encode()) for name, value in signed.items()]
    start, _ = _call(middleware, raw)
    assert start["status"] == 401


def test_header_fields_are_read_once_and_never_changed(dev_keys: Path) -> None:
    """header_fields of HeaderFields is the same map; signing adds its digest to a copy."""
    fields = header_fields([(b"Content-Type", b" application/json "), (b"x-a", b"1")])
    assert fields == {"content-type": "application/json", "x-a": "1"}
    assert header_fields(fields) is fields
    signer = HttpSigner(load_party(dev_keys, "adapter"))
    view = RequestView("GET", f"http://adapter.example{PATH}", fields)
    signer.sign_response(200, fields, BODY, request=view)
    signer.sign_request("GET", view.url, fields, b"")
    assert "content-digest" not in fields


class _FixedSigner:
    """Signs nothing: hands back fixed fields, and keeps the headers it was given."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.given: list[Any] = []

    def sign_response(
        self, status: int, headers: Any, body: bytes, *, request: RequestView
    ) -> dict[str, str]:
        self.given.append(list(headers))
        return dict(self.fields)


def _plain_signed_headers(
    headers: list[tuple[bytes, bytes]], signed: dict[str, str], body: bytes
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """What the answer's headers were made as first: (given to the signer, sent)."""
    out = [(n.lower(), v) for n, v in headers if n.lower() != b"content-digest"]
    given = list(out)
    out += [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in signed.items()]
    if not any(n == b"content-length" for n, _ in out):
        out.append((b"content-length", str(len(body)).encode("ascii")))
    return given, out


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"Content-Type", b"application/json"), (b"Content-Digest", b"sha-256=:own:")],
        [(b"content-length", b"3"), (b"CONTENT-DIGEST", b"x"), (b"content-digest", b"y")],
        [(b"Content-Length", b"99"), (b"X-A", b"1"), (b"x-a", b"2")],
        [(b"\xc0", b"\xff"), (b"content-lengths", b"1")],
    ],
)
@pytest.mark.parametrize(
    "signed",
    [
        {"Content-Digest": "sha-256=:d:", "Signature-Input": "sig1=()", "Signature": "sig1=:s:"},
        {"Content-Length": "7"},
    ],
)
def test_signed_answer_headers_are_made_as_they_always_were(
    headers: list[tuple[bytes, bytes]], signed: dict[str, str]
) -> None:
    """Names lower-cased, the app's Content-Digest dropped, the signer's fields after the
    app's, a Content-Length added only when no header (the app's or the signer's) is one."""
    signer = _FixedSigner(signed)
    verifier = HttpVerifier(StaticKeyResolver({}), None)
    gate = SignatureGate(verifier=verifier, signer=signer)  # type: ignore[arg-type]
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    view = RequestView("GET", "http://a.example/x", {})
    asyncio.run(gate.send_signed(send, view, 200, headers, b"abc"))
    given, expected = _plain_signed_headers(headers, signed, b"abc")
    assert signer.given == [given]
    assert sent[0]["headers"] == expected
    assert sent[1] == {"type": "http.response.body", "body": b"abc", "more_body": False}
