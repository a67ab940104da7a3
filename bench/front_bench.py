"""The adapter's front layer and its RFC 9421 plumbing, in one process, against bare ECDSA.

A signed ``GET /v1/citizens/{id}`` as the adapter bench's load generator sends it (``Host``,
``X-User-Id``, ``X-Issue`` and the signature fields), driven through
:class:`adapter_api.front.Front` as ``create_app`` builds it (the production gate: a static
key resolver with the trust store, the memory replay cache, the served authorities, the
default body limits, the bodies in flight, the metrics) in front of a stand-in for the route
that does what the route asks of the front's modules (a rate counter hit, the RateLimit
fields, one upstream exchange and one upstream call counted) and answers ~1 KB of JSON.
No server, no FastAPI, no upstream: what is timed is the front layer, the signature check of
the request and the signing of the answer.

Three figures, CPU µs per request (``time.process_time``; best of ``--rounds`` rounds, the
cases interleaved in each round so machine noise cancels in their ratios):

* ``front`` — the whole pass through the front layer, the stand-in route included;
* ``rfc9421`` — ``HttpVerifier.verify_request`` + ``HttpSigner.sign_response`` on the same
  request and answer, alone;
* ``ecdsa`` — the floor of ``rfc9421``: ECDSA P-256 ``verify`` + ``sign`` with `cryptography`
  over bases of the same length.

Run: ``python bench/front_bench.py`` (``--root DIR`` to time another checkout of the code).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--calls", type=int, default=2000, help="requests per round and case")
    parser.add_argument("--rounds", type=int, default=7)
    return parser.parse_args()


ARGS = _parse()
sys.path.insert(0, str(ARGS.root.resolve()))

from asgi_scope import get_scope  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from adapter_api.app import CONSOLE_PATH, EXEMPT_PATHS, signature_failure  # noqa: E402
from adapter_api.front import Front  # noqa: E402
from adapter_api.metrics import Metrics  # noqa: E402
from adapter_api.rate_limits import STATE_KEY  # noqa: E402
from lienthong.settings import Settings  # noqa: E402
from security.admission import BodiesInFlight, BodyLimits  # noqa: E402
from security.asgi import SignatureGate  # noqa: E402
from security.http_signatures import (  # noqa: E402
    HttpSigner,
    HttpVerifier,
    RequestView,
    StaticKeyResolver,
)
from security.keys import load_party  # noqa: E402
from security.pki import init_dev_pki  # noqa: E402
from security.rate_counters import MemoryRateCounter  # noqa: E402
from security.replay import MemoryReplayCache  # noqa: E402
from security.trust import TrustStore  # noqa: E402

AUTHORITY = "adapter.example:8000"
ROUTE = "/v1/citizens/{citizen_id}"
OFFICIAL = "can-bo-0042"
ANSWER = json.dumps(
    {
        "citizen_id": "001099012345",
        "full_name": "Nguyễn Văn An",
        "date_of_birth": "1999-01-02",
        "gender": "male",
        "permanent_address": {"province": "Hà Nội", "district": "Ba Đình", "ward": "Kim Mã"},
        "household": [{"citizen_id": f"00109901234{i}", "relation": "child"} for i in range(6)],
        "source": {"system": "population", "message_id": "0f7a9c1e-1111-4222-8333-944445555666"},
    },
    ensure_ascii=False,
).encode()


class _Route:
    path = ROUTE


class _Exchange:
    upstream = "population"
    operation = "GetCitizen"
    outcome = "ok"
    duration_ms = 3.2


def _stand_in(metrics: Metrics, counter: MemoryRateCounter) -> Any:
    """What the lookup route asks of the front's modules, then a JSON answer."""
    fields = [(b"ratelimit-policy", b'"citizens.read";q=600;w=60')]
    headers = [
        (b"content-length", str(len(ANSWER)).encode("ascii")),
        (b"content-type", b"application/json"),
    ]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["route"] = _Route
        count = counter.hit(f"op:{scope['state']['client_id']}:citizens.read", 60)
        scope["state"][STATE_KEY] = [
            *fields,
            (b"ratelimit", f'"citizens.read";r={600 - count.calls};t=60'.encode("ascii")),
        ]
        with metrics.upstream_call("population", "GetCitizen"):
            metrics.observe_exchange(_Exchange())
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": ANSWER, "more_body": False})

    return app


class Bench:
    """The front layer as ``create_app`` builds it, a signing client, and the bare keys."""

    def __init__(self, keys: Path) -> None:
        trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
        client = load_party(keys, "province-app")
        adapter = load_party(keys, "adapter")
        self.client_signer = HttpSigner(client)
        settings = Settings()
        self.verifier = HttpVerifier(
            StaticKeyResolver({"province-app": client.certificate}, trust),
            MemoryReplayCache(),
            authorities={AUTHORITY},
        )
        self.signer = HttpSigner(adapter)
        self.metrics = Metrics()
        gate = SignatureGate(
            verifier=self.verifier,
            signer=self.signer,
            exempt_paths=EXEMPT_PATHS | {CONSOLE_PATH, CONSOLE_PATH + "/*"},
            on_error=signature_failure,
            body_limit=BodyLimits(settings.max_body_bytes, settings.body_limits),
            in_flight=BodiesInFlight(
                settings.max_bodies_in_flight, settings.max_bodies_in_flight_per_client
            ),
        )
        self.front = Front(
            _stand_in(self.metrics, MemoryRateCounter()), gate=gate, metrics=self.metrics
        )
        self.client_key = client.key
        self.adapter_key = adapter.key
        self.loop = asyncio.new_event_loop()
        self._serial = 0

    def signed_request(self) -> tuple[str, str, list[tuple[bytes, bytes]]]:
        """A fresh signed lookup: its path, URL and raw ASGI headers."""
        self._serial += 1
        path = f"/v1/citizens/{1099000000 + self._serial:012d}"
        url = f"http://{AUTHORITY}{path}"
        fields = {"X-User-Id": OFFICIAL, "X-Issue": f"HS-2026-{self._serial % 97:05d}"}
        fields.update(self.client_signer.sign_request("GET", url, fields, b""))
        raw = [(b"host", AUTHORITY.encode("ascii"))]
        raw += [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in fields.items()
        ]
        return path, url, raw

    def scope(self) -> dict[str, Any]:
        path, _, raw = self.signed_request()
        return get_scope(path, raw)

    def front_case(self) -> tuple[Callable[[], Any], Callable[[list[Any]], None]]:
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def run_all(scopes: list[dict[str, Any]]) -> None:
            front = self.front
            for scope in scopes:
                await front(scope, receive, send)
            if sent[0]["status"] != 200:
                raise SystemExit(f"the front layer answered {sent[0]}")
            sent.clear()

        return self.scope, lambda scopes: self.loop.run_until_complete(run_all(scopes))

    def rfc9421_case(self) -> tuple[Callable[[], Any], Callable[[list[Any]], None]]:
        answer_headers = [(b"content-type", b"application/json")]

        def run(items: list[Any]) -> None:
            verify, sign = self.verifier.verify_request, self.signer.sign_response
            for url, raw in items:
                verify("GET", url, raw, b"")
                sign(200, answer_headers, ANSWER, request=RequestView("GET", url, raw))

        def prepare() -> Any:
            _, url, raw = self.signed_request()
            return url, raw

        return prepare, run

    def ecdsa_case(self) -> tuple[Callable[[], Any], Callable[[list[Any]], None]]:
        algorithm = ec.ECDSA(hashes.SHA256())
        request_base = b"r" * 420
        answer_base = b"a" * 560
        signature = self.client_key.sign(request_base, algorithm)  # type: ignore[union-attr]
        public = self.client_key.public_key()  # type: ignore[union-attr]

        def run(items: list[Any]) -> None:
            for _ in items:
                public.verify(signature, request_base, algorithm)
                self.adapter_key.sign(answer_base, algorithm)  # type: ignore[union-attr]

        return lambda: None, run


def _per_call(case: tuple[Callable[[], Any], Callable[[list[Any]], None]], number: int) -> float:
    prepare, run = case
    inputs = [prepare() for _ in range(number)]
    start = time.process_time()
    run(inputs)
    return (time.process_time() - start) / number * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        keys = Path(folder)
        init_dev_pki(keys)
        bench = Bench(keys)
        cases = {
            "front": bench.front_case(),
            "rfc9421": bench.rfc9421_case(),
            "ecdsa": bench.ecdsa_case(),
        }
        for case in cases.values():  # warm the caches
            _per_call(case, 50)
        best = dict.fromkeys(cases, float("inf"))
        for _ in range(ARGS.rounds):
            for name, case in cases.items():
                best[name] = min(best[name], _per_call(case, ARGS.calls))
    print(f"root {ARGS.root}")
    for name, value in best.items():
        print(f"  {name:8s} {value:7.1f} µs")
    print(f"  front - ecdsa   {best['front'] - best['ecdsa']:7.1f} µs")
    print(f"  rfc9421 - ecdsa {best['rfc9421'] - best['ecdsa']:7.1f} µs")


if __name__ == "__main__":
    main()
