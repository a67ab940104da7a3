"""The signature gate's inline steps against the steps as they were first written: the same.

``SignatureGate.admitted`` reads the URL, the declared length, the admission on the headers and
a body that came whole in one message inline, and ``signed_headers`` reads the signer's field
names from a memo before calling for one. ``_PlainGate`` below is the gate as it was before
(its helpers copied here as they were); every request, hostile ones included, must come out of
both the same: what is returned, what is answered (status, headers, body), what is raised,
what is read of the body, what is left in the scope and the places among the bodies in flight.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from security.admission import BodiesInFlight
from security.asgi import Admitted, Message, Receive, Scope, Send, SignatureGate
from security.errors import RequestTooLarge, SecurityError
from security.http_signatures import (
    HeaderFields,
    HttpSigner,
    HttpVerifier,
    RequestView,
    StaticKeyResolver,
    header_fields,
)
from security.keys import load_party
from security.replay import MemoryReplayCache
from security.trust import TrustStore

RawHeaders = list[tuple[bytes, bytes]]
PATH = "/v1/citizens/001085000123"
BODY = json.dumps({"citizen_id": "001085000123"}).encode()
LIMIT = 64
SIGNED_FIELDS = {"Content-Digest": "sha-256=:d:", "Signature-Input": "sig1=()", "Signature": "s"}


# ------------------------------------------------------------ the gate as it was first written


def _plain_request_url(scope: Scope, headers: RawHeaders) -> str:
    for name, value in headers:
        if name == b"host":  # the first Host field, as received
            authority = value.decode("latin-1")
            break
    else:
        server = scope.get("server") or ("localhost", None)
        authority = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope.get("path", "/")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scope.get('scheme', 'http')}://{authority}{path}" + (f"?{query}" if query else "")


def _plain_content_length(headers: HeaderFields) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _nothing() -> None:
    return None


async def _plain_read_body(receive: Receive, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"the request body is larger than {limit} bytes")
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


class _PlainGate(SignatureGate):
    """The gate with ``admitted`` and ``signed_headers`` as they were first written."""

    async def admitted(self, scope: Scope, receive: Receive, send: Send) -> Admitted | None:
        raw_headers: RawHeaders = scope.get("headers", [])
        if type(raw_headers) is not list:
            raw_headers = list(raw_headers)
        headers = header_fields(raw_headers)
        url = _plain_request_url(scope, raw_headers)
        request = RequestView(scope["method"], url, headers)
        limit = self._body_limit(scope["method"], scope.get("path", ""))
        length = _plain_content_length(headers)
        has_body = bool(length) or "transfer-encoding" in headers
        try:
            release = self._plain_admit(headers, length, limit, has_body)
        except SecurityError as exc:
            await self._refuse(send, request, exc, close=has_body)
            return None
        try:
            body = await _plain_read_body(receive, limit)
            verified = self._verifier.verify_view(request, body)
        except SecurityError as exc:
            try:
                await self._refuse(send, request, exc, close=isinstance(exc, RequestTooLarge))
            finally:
                release()
            return None
        except BaseException:
            release()
            raise
        state = scope.setdefault("state", {})
        state["client_id"] = verified.keyid
        state["signature"] = verified
        return request, body, release

    def _plain_admit(
        self, headers: HeaderFields, length: int | None, limit: int, has_body: bool
    ) -> Callable[[], None]:
        keyid = self._verifier.claimed_signer(headers)
        if length is not None and length > limit:
            raise RequestTooLarge(f"the request body is larger than {limit} bytes")
        if self._in_flight is None or not has_body:
            return _nothing
        return self._in_flight.acquire(keyid)

    def signed_headers(
        self,
        request: RequestView,
        status: int,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
        dropped: frozenset[bytes] = frozenset({b"content-digest"}),
    ) -> RawHeaders:
        out: RawHeaders = []
        sized = False
        for name, value in headers:
            name = name.lower()
            if name not in dropped:
                out.append((name, value))
                sized = sized or name == b"content-length"
        signed = self._signer.sign_response(status, out, body, request=request)
        for field, text in signed.items():
            name = field.lower().encode("latin-1")
            out.append((name, text.encode("latin-1")))
            sized = sized or name == b"content-length"
        if not sized:
            out.append((b"content-length", str(len(body)).encode("ascii")))
        return out


# ------------------------------------------------------------------------------- the cases


class _FixedSigner:
    """Signs nothing: hands back fixed fields (so that answers compare), keeps what it got."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.given: list[Any] = []

    def sign_response(
        self, status: int, headers: Any, body: bytes, *, request: RequestView
    ) -> dict[str, str]:
        self.given.append((status, list(headers), body, request.method, request.url))
        return dict(self.fields)


class _Parties:
    """The client's signer and the server's verifiers (a fresh replay cache for each gate)."""

    def __init__(self, keys: Path) -> None:
        self.now = int(time.time())
        trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
        self._client = load_party(keys, "province-app")
        self._trust = trust
        self.signer = HttpSigner(self._client, clock=lambda: self.now)
        self.stranger = HttpSigner(self._client, keyid="stranger", clock=lambda: self.now)

    def verifier(self) -> HttpVerifier:
        resolver = StaticKeyResolver({"province-app": self._client.certificate}, self._trust)
        return HttpVerifier(resolver, MemoryReplayCache(), clock=lambda: self.now)


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> _Parties:
    from security.pki import init_dev_pki

    folder = tmp_path_factory.mktemp("parity_keys")
    init_dev_pki(folder)
    return _Parties(folder)


def _signed(
    signer: HttpSigner,
    method: str,
    url: str,
    body: bytes,
    extra: RawHeaders = (),  # type: ignore[assignment]
    *,
    host: bytes | None = b"adapter.example",
) -> RawHeaders:
    """Raw request headers: Host (when given), ``extra``, then the signature fields."""
    text_fields = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in extra]
    fields = signer.sign_request(method, url, text_fields, body)
    raw: RawHeaders = [] if host is None else [(b"host", host)]
    raw += list(extra)
    raw += [(n.lower().encode(), v.encode()) for n, v in fields.items()]
    return raw


def _scope(headers: Any, method: str = "GET", **fields: Any) -> Scope:
    scope: Scope = {
        "type": "http",
        "method": method,
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "headers": headers,
    }
    scope.update(fields)
    return {name: value for name, value in scope.items() if value is not _ABSENT}


_ABSENT = object()


def _whole(body: Any) -> list[Message]:
    return [{"type": "http.request", "body": body, "more_body": False}]


def _chunks(*bodies: bytes) -> list[Message]:
    *first, last = bodies
    messages: list[Message] = [
        {"type": "http.request", "body": b, "more_body": True} for b in first
    ]
    return [*messages, {"type": "http.request", "body": last, "more_body": False}]


#: (name, the request's scope made with the parties' keys, the messages received)
Case = tuple[str, Callable[[_Parties], Scope], list[Message]]


def _cases() -> list[Case]:
    url = f"http://adapter.example{PATH}"
    json_type = [(b"content-type", b"application/json")]
    sized = [*json_type, (b"content-length", str(len(BODY)).encode())]

    def get(**fields: Any) -> Callable[[_Parties], Scope]:
        return lambda p: _scope(_signed(p.signer, "GET", url, b""), **fields)

    def post(
        body: bytes = BODY, extra: RawHeaders = sized, **fields: Any
    ) -> Callable[[_Parties], Scope]:
        return lambda p: _scope(_signed(p.signer, "POST", url, body, extra), "POST", **fields)

    return [
        ("get", get(), _whole(b"")),
        ("get, no body field", get(), [{"type": "http.request"}]),
        ("get, a disconnect", get(), [{"type": "http.disconnect"}]),
        ("get, a body it did not sign", get(), _whole(b"x")),
        ("get, no raw path", get(raw_path=_ABSENT), _whole(b"")),
        ("get, an empty raw path", get(raw_path=b""), _whole(b"")),
        ("get, another raw path", get(raw_path=b"/v1/citizens/\xff"), _whole(b"")),
        ("get, https", get(scheme="https"), _whole(b"")),
        ("get, no scheme", get(scheme=_ABSENT), _whole(b"")),
        ("get, a query", get(query_string=b"a=1&b=%2F"), _whole(b"")),
        ("get, headers as a tuple", lambda p: _scope(tuple(get()(p)["headers"])), _whole(b"")),
        (
            "get, no host, the server's port",
            lambda p: _scope(
                _signed(p.signer, "GET", "http://127.0.0.1:8000" + PATH, b"", host=None)
            ),
            _whole(b""),
        ),
        (
            "get, no host, no port",
            lambda p: _scope(
                _signed(p.signer, "GET", "http://127.0.0.1" + PATH, b"", host=None),
                server=("127.0.0.1", None),
            ),
            _whole(b""),
        ),
        (
            "get, no host, no server",
            lambda p: _scope(
                _signed(p.signer, "GET", "http://localhost" + PATH, b"", host=None), server=None
            ),
            _whole(b""),
        ),
        (
            "get, two hosts",
            lambda p: _scope(
                [(b"host", b"elsewhere.example"), *_signed(p.signer, "GET", url, b"")]
            ),
            _whole(b""),
        ),
        (
            "get, a host with spaces",
            lambda p: _scope(_signed(p.signer, "GET", url, b"", host=b" adapter.example ")),
            _whole(b""),
        ),
        (
            "get, a Host in capitals",
            lambda p: _scope(
                [(b"Host", b"elsewhere.example"), *_signed(p.signer, "GET", url, b"")]
            ),
            _whole(b""),
        ),
        (
            "get, str header pairs",
            lambda p: _scope([(n.decode(), v.decode()) for n, v in get()(p)["headers"]]),
            _whole(b""),
        ),
        ("get, unsigned", lambda p: _scope([(b"host", b"adapter.example")]), _whole(b"")),
        (
            "get, an unknown key",
            lambda p: _scope(_signed(p.stranger, "GET", url, b"")),
            _whole(b""),
        ),
        (
            "get, a torn signature",
            lambda p: _scope(
                [
                    (n, v[:-6] + b"AAAA:" if n == b"signature" else v)
                    for n, v in _signed(p.signer, "GET", url, b"")
                ]
            ),
            _whole(b""),
        ),
        ("post", post(), _whole(BODY)),
        ("post, in chunks", post(), _chunks(BODY[:5], BODY[5:])),
        ("post, an empty last chunk", post(), _chunks(BODY, b"")),
        ("post, a bytearray", post(), _whole(bytearray(BODY))),
        ("post, a memoryview", post(), _whole(memoryview(BODY))),
        ("post, a body of None", post(), _whole(None)),
        ("post, a str body", post(), _whole(BODY.decode())),
        (
            "post, a disconnect halfway",
            post(),
            [*_chunks(BODY[:5], b"")[:1], {"type": "http.disconnect"}],
        ),
        ("post, no more messages", post(), _chunks(BODY[:5], b"")[:1]),
        ("post, another body", post(), _whole(BODY[::-1])),
        ("post, the whole limit", post(b"a" * LIMIT, json_type), _whole(b"a" * LIMIT)),
        ("post, over the limit", post(b"a" * (LIMIT + 1), json_type), _whole(b"a" * (LIMIT + 1))),
        (
            "post, over the limit in chunks",
            post(b"a" * (LIMIT + 1), json_type),
            _chunks(b"a" * LIMIT, b"a"),
        ),
        (
            "post, a length over the limit",
            post(b"a", [(b"content-length", str(LIMIT + 1).encode())]),
            _whole(b"a"),
        ),
        ("post, a length of 0", post(BODY, [(b"content-length", b"0")]), _whole(BODY)),
        ("post, a length of -1", post(BODY, [(b"content-length", b"-1")]), _whole(BODY)),
        ("post, a length of 1_0", post(BODY, [(b"content-length", b"1_0")]), _whole(BODY)),
        ("post, a length of ' 7 '", post(BODY, [(b"content-length", b" 7 ")]), _whole(BODY)),
        ("post, a length of x", post(BODY, [(b"content-length", b"x")]), _whole(BODY)),
        (
            "post, two lengths",
            post(BODY, [(b"content-length", b"3"), (b"content-length", b"3")]),
            _whole(BODY),
        ),
        ("post, chunked", post(BODY, [(b"transfer-encoding", b"chunked")]), _chunks(BODY, b"")),
        ("post, no length", post(BODY, json_type), _whole(BODY)),
        ("post, no messages at all", post(), []),
    ]


class _Received:
    """A ``receive`` handing out ``messages`` in turn; past them, an error (what both read)."""

    def __init__(self, messages: list[Message]) -> None:
        self.messages = [dict(message) for message in messages]
        self.read = 0

    async def __call__(self) -> Message:
        if self.read == len(self.messages):
            raise RuntimeError("read past the request's last message")
        self.read += 1
        return self.messages[self.read - 1]


def _outcome(
    gate_class: type[SignatureGate],
    verifier: HttpVerifier,
    scopes: Sequence[Scope],
    messages: list[Message],
    *,
    busy: bool,
) -> list[Any]:
    """What the gate does with each of ``scopes`` (the same messages for each), in turn."""
    signer = _FixedSigner(SIGNED_FIELDS)
    in_flight = BodiesInFlight(total=4, per_client=1)
    gate = gate_class(
        verifier=verifier,
        signer=signer,  # type: ignore[arg-type]
        body_limit=lambda _method, _path: LIMIT,
        in_flight=in_flight,
    )
    held = in_flight.acquire("province-app") if busy else None
    seen: list[Any] = []
    for scope in scopes:
        sent: list[Message] = []

        async def send(message: Message, sent: list[Message] = sent) -> None:
            sent.append(message)

        received = _Received(messages)
        try:
            admitted = asyncio.run(gate.admitted(scope, received, send))
        except Exception as exc:  # what escapes is compared too
            result: Any = ("raised", type(exc), str(exc))
        else:
            if admitted is None:
                result = None
            else:
                request, body, release = admitted
                result = (request.method, request.url, dict(request.headers), body, type(body))
                result += (in_flight.open,)
                release()
        state = scope.get("state", {})
        seen.append(
            (
                result,
                sent,
                received.read,
                in_flight.open,
                state.get("client_id"),
                state.get("signature"),
                signer.given,
            )
        )
    if held is not None:
        held()
    return seen


@pytest.mark.parametrize("case", _cases(), ids=lambda case: case[0])
@pytest.mark.parametrize("busy", [False, True], ids=["room", "busy"])
def test_the_inline_gate_admits_refuses_and_reads_as_the_plain_one(
    parties: _Parties, case: Case, busy: bool
) -> None:
    """Each request twice (the second a replay), on the inline gate and on the plain one."""
    _, make_scope, messages = case
    scopes = [make_scope(parties)]
    scopes.append({**scopes[0], "headers": scopes[0]["headers"]})
    scopes = [dict(scope) for scope in scopes]
    twin = [dict(scope) for scope in scopes]
    inline = _outcome(SignatureGate, parties.verifier(), scopes, messages, busy=busy)
    plain = _outcome(_PlainGate, parties.verifier(), twin, messages, busy=busy)
    assert inline == plain
    assert scopes == twin


def test_the_cases_reach_every_answer(parties: _Parties) -> None:
    """The cases above are admitted, refused before the body, refused after it, and raise."""
    seen: set[Any] = set()
    for _, make_scope, messages in _cases():
        (result, sent, *_), _replayed = _outcome(
            SignatureGate, parties.verifier(), [make_scope(parties)] * 2, messages, busy=False
        )
        status = sent[0]["status"] if sent else None
        seen.add(result[0] if isinstance(result, tuple) else status)
    assert {"GET", "POST", "raised", 401, 413} <= seen


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"Content-Type", b"application/json"), (b"Content-Digest", b"sha-256=:own:")],
        [(b"content-length", b"3"), (b"CONTENT-DIGEST", b"x"), (b"x-request-id", b"y")],
        [(b"Content-Length", b"99"), (b"X-A", b"1"), (b"x-a", b"2")],
        [(b"\xc0", b"\xff"), (b"content-lengths", b"1"), (b"", b"")],
    ],
)
@pytest.mark.parametrize(
    "signed",
    [
        SIGNED_FIELDS,
        {"Content-Length": "7", "": "", "\xe9": "\xff"},
        {f"X-Field-{n}": str(n) for n in range(40)},  # more names than the memo keeps
        {"content-length": "1", "CONTENT-LENGTH": "2"},
        {},
    ],
)
@pytest.mark.parametrize("dropped", [None, frozenset({b"content-digest", b"x-request-id"})])
def test_signed_answer_headers_are_the_plain_ones(
    headers: RawHeaders, signed: dict[str, str], dropped: frozenset[bytes] | None
) -> None:
    """The memo of the signer's field names changes nothing of the answer's fields."""
    answers = []
    for gate_class in (SignatureGate, _PlainGate):
        signer = _FixedSigner(signed)
        verifier = HttpVerifier(StaticKeyResolver({}), None)
        gate = gate_class(verifier=verifier, signer=signer)  # type: ignore[arg-type]
        view = RequestView("GET", "http://a.example/x", {})
        for _ in range(2):  # the names read, then the names kept
            if dropped is None:
                out = gate.signed_headers(view, 200, headers, b"abc")
            else:
                out = gate.signed_headers(view, 200, headers, b"abc", dropped)
            answers.append((gate_class is SignatureGate, out, signer.given))
    assert [answer[1:] for answer in answers[:2]] == [answer[1:] for answer in answers[2:]]


@pytest.mark.parametrize("exempt", [(), ("/docs",), ("/console/*",), ("/docs", "/console/*", "/")])
@pytest.mark.parametrize("path", ["", "/", "/docs", "/docs/", "/console", "/console/", "/consolex"])
def test_exempt_paths_are_read_as_before(exempt: tuple[str, ...], path: str) -> None:
    """``exempt`` without the check that there are prefixes: ``startswith(())`` is False."""
    verifier = HttpVerifier(StaticKeyResolver({}), None)
    gate = SignatureGate(verifier=verifier, signer=_FixedSigner({}), exempt_paths=exempt)  # type: ignore[arg-type]
    exact = {p for p in exempt if not p.endswith("*")}
    prefixes = tuple(p[:-1] for p in exempt if p.endswith("*"))
    assert gate.exempt(path) == (path in exact or (bool(prefixes) and path.startswith(prefixes)))
