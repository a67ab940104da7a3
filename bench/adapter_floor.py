"""The floor of a signed citizen lookup: what the adapter cannot avoid, as CPU per lookup.

Measured in the same run as the adapter (``bench/adapter_bench.py`` calls it), so that the
adapter's CPU per lookup is reported as a multiple of this floor on the same machine, the same
minute. Three parts, summed:

* the **forwarder**: a bare ASGI app served by :func:`lienthong.server.run_server` (the adapter's
  own uvicorn settings: uvloop, httptools behind the connection limits, no access log) that
  answers every request by POSTing one fixed SOAP envelope to the mock with the connectors' own
  HTTP client (:class:`connectors.http_client.ConnectionPool`) and returning the answer as it
  came: no middleware, no routing, no checks. Driven like the adapter (same concurrency), its
  process's CPU per call is this part;
* the **four signature operations** a lookup needs, each in a tight loop in this process on the
  run's own keys and messages: RFC 9421 verify of the client's signed GET (replay cache on),
  WS-Security sign of the GetCitizen envelope (from an element, as the connector builds it),
  WS-Security verify of the population mock's signed answer (certificate against the trust
  store), RFC 9421 sign of the reply (bound to the request);
* the **two durable log writes**: the message-log record (both messages encrypted with AES-GCM,
  their SHA-256 hashes and the chain digest) and the access-log row (the citizen's keyed hash),
  inserted with :mod:`sqlite3` in this thread into the store's own tables, WAL journal and
  ``synchronous=FULL`` as the store runs SQLite, in transactions of as many lookups as the
  adapter's group commit put together in the same run (the head row moved once per
  transaction). No queue, no thread hop, no SQLAlchemy: the cheapest way to make the same rows
  durable.

The log rows and their transaction are ``bench/floor_log.py``'s, shared with the **integrated
floor** (``bench/floor_server.py``): the same work done inline by one bare server under the
same load, which says how far a sum of tight loops is from what any server doing this work
reaches (``adapter_bench.py`` reports both).

Each figure is the best of several rounds of CPU time (``time.process_time``: system time
included, which is where an fsync's cost shows), in ms per lookup.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from security.http_signatures import (  # noqa: E402
    HttpSigner,
    HttpVerifier,
    RequestView,
    TrustedKeyDirectory,
)
from security.keys import load_party  # noqa: E402
from security.replay import MemoryReplayCache  # noqa: E402
from security.trust import TrustStore  # noqa: E402
from security.wsse import SIGNING_NSMAP, sign_envelope, verify_envelope  # noqa: E402

SOAP_HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": '"urn:vn:csdlqgdc:population:1.0#GetCitizen"',
}
ROUNDS = 5
SIGNATURE_PARTS = ("rfc9421_verify", "wsse_sign", "wsse_verify", "rfc9421_sign")


# ------------------------------------------------------------------------------ the forwarder


class Forwarder:
    """A bare ASGI app: every HTTP request is answered by POSTing ``envelope`` to ``url``."""

    def __init__(self, url: str, envelope: bytes) -> None:
        self.url = url
        self.envelope = envelope
        self.pool: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    from connectors.http_client import ConnectionPool

                    self.pool = ConnectionPool(max_connections=64, connect_timeout=5.0)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        status, _, body = await self.pool.request("POST", self.url, SOAP_HEADERS, self.envelope)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/xml; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def serve_forwarder(port: int, url: str, envelope_file: str) -> None:
    """Child process: the forwarder on 127.0.0.1:port, as the adapter is served."""
    from lienthong.server import run_server

    app = Forwarder(url, Path(envelope_file).read_bytes())
    run_server(app, host="127.0.0.1", port=port, log_level="warning")


# ------------------------------------------------------------------------------ in-process parts


def _best(run: Callable[[Any], object], inputs: Callable[[], list[Any]]) -> float:
    """Best over the rounds of CPU ms per call of ``run`` over freshly made ``inputs``."""
    best = float("inf")
    for _ in range(ROUNDS):
        items = inputs()
        start = time.process_time()
        for item in items:
            run(item)
        best = min(best, (time.process_time() - start) / len(items) * 1000)
    return best


def signature_floor(
    keys: Path, request_url: str, request_headers: dict[str, str], answer: bytes, *, calls: int
) -> dict[str, float]:
    """CPU ms of each of the four signature operations of a lookup (see the module docstring).

    ``request_headers`` are the client's unsigned headers (``X-User-Id``, ``X-Issue``);
    ``answer`` is a signed GetCitizen answer of the population mock.
    """
    from harness import get_citizen_envelope

    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    client = HttpSigner(load_party(keys, "province-app"), ttl=60)
    adapter = load_party(keys, "adapter")
    responder = HttpSigner(adapter)
    verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), MemoryReplayCache())

    def signed_requests() -> list[dict[str, str]]:
        return [
            {**request_headers, **client.sign_request("GET", request_url, request_headers, b"")}
            for _ in range(calls)
        ]

    def fresh_envelopes() -> list[etree._Element]:
        user, issue = request_headers["X-User-Id"], request_headers["X-Issue"]
        citizen = request_url.rsplit("/", 1)[1]
        return [
            get_citizen_envelope(citizen, user_id=user, issue=issue, nsmap=SIGNING_NSMAP)
            for _ in range(calls)
        ]

    signed = signed_requests()[0]
    view = RequestView("GET", request_url, signed)
    reply = b'{"citizen_id": "0"}' + b" " * 600
    reply_headers = {"content-type": "application/json"}
    return {
        "rfc9421_verify": _best(
            lambda headers: verifier.verify_request("GET", request_url, headers, b""),
            signed_requests,
        ),
        "wsse_sign": _best(lambda root: sign_envelope(root, adapter), fresh_envelopes),
        "wsse_verify": _best(
            lambda data: verify_envelope(data, trust, expected_party="population"),
            lambda: [answer] * calls,
        ),
        "rfc9421_sign": _best(
            lambda body: responder.sign_response(200, reply_headers, body, request=view),
            lambda: [reply] * calls,
        ),
    }


def log_write_floor(
    folder: Path, request_bytes: int, answer_bytes: int, per_transaction: int, *, lookups: int
) -> float:
    """CPU ms per lookup of its two durable log rows (see the module docstring)."""
    from floor_log import FloorLog, LoggedLookup

    log = FloorLog(folder / "floor.db")
    lookup = LoggedLookup(
        os.urandom(request_bytes),
        os.urandom(answer_bytes),
        "VN001090000001",
        "000.00.04.H04-261126-0001",
        "001090000001",
    )
    size = max(1, per_transaction)
    batch = [lookup] * size
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(lookups // size):
            log.commit(batch)
        best = min(best, (time.process_time() - start) / (lookups // size * size) * 1000)
    log.close()
    return best


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-forwarder"]:
        serve_forwarder(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        raise SystemExit("run by bench/adapter_bench.py, which measures the floor in its run")

__all__ = ["SIGNATURE_PARTS", "Forwarder", "log_write_floor", "serve_forwarder", "signature_floor"]
