"""The checks of a signed lookup that the floor leaves out: CPU per lookup of each, in one process.

Run: ``.venv/bin/python bench/adapter_checks.py [--calls N] [--rounds R]`` (on a fresh
development PKI and a reply signed here), or as a part of ``bench/adapter_bench.py``, which
measures these on its own run's keys, clients file, citizen, dossier and a reply of its mock.

The floor (``bench/adapter_floor.py``) is what a signed lookup cannot avoid: a bare forwarder,
the four signature operations, the two durable log writes. The adapter does more, on purpose:
the checks below stay for correctness or security. Each is timed here calling the project's own
functions, wired as the adapter wires them (the clients file loaded, the rate counter, the
dossier directory, the connector, the metrics), on the messages of one lookup: the client's
signed ``GET /v1/citizens/{id}`` as an ASGI scope, the envelope the connector builds and signs,
the population's signed reply (verified once, outside the timed code).

* ``lookup_inputs`` — the path's CCCD and the purpose headers, patterns and validators
  (``adapter_api.routes.fast_path.citizen_lookup_inputs``);
* ``request_guard`` — a repeated single header, an encoded slash, whether the body is read,
  the route's body limit (``adapter_api.request_guard``, ``security.admission.BodyLimits``);
* ``request_id`` — the request id adopted, echoed on the answer, read by the route
  (``adapter_api.request_id``);
* ``admission`` — the client looked up, its allow-list, the rate counter and the RateLimit
  fields (``adapter_api.auth.admitted_client``, ``adapter_api.rate_limits``);
* ``purpose`` — the dossier in ``X-Issue`` must serve this citizen
  (``adapter_api.routes.citizens.check_issue`` over ``adapter_api.issues.IssueDirectory``; its
  store is read once, then the directory's cache answers, as under load);
* ``request_build`` — the call context (a fresh message id), the GetCitizen payload, the X-Road
  header and the envelope (``connectors.soap.SoapConnector.header_for`` / ``envelope``);
* ``resilience`` — one call through the connector's breaker, time limit and concurrency limit
  (``connectors.resilience.Resilience.call``; the attempt answers at once);
* ``echo`` — the reply's X-Road header against the header sent, ``requestHash`` of the bytes
  sent (``connectors.echo.echoes_faithfully``, ``schemas.wire.xroad.request_hash``);
* ``read_answer`` — the reply's body into the ``Citizen`` (pydantic and the validators of
  ``schemas/``: ``schemas.wire.population.read_get_citizen_response``);
* ``metrics`` — the request counted and timed, the upstream call and the exchange
  (``adapter_api.metrics.Metrics``);
* ``access_entry`` — the access-log entry made (``adapter_api.access.access_entry``; writing it
  is the floor's);
* ``answer_json`` — the citizen written as the answer's JSON, minimised to the client's fields
  (``adapter_api.routes.context.model_json``).

Each figure is the best of ``R`` rounds of CPU time (``time.process_time``) over ``N`` lookups,
in ms per lookup; the checks are interleaved in each round. After each round the last verdict
of every check is compared with the expected one (the lookup accepted): a check that stopped
checking, or refuses the bench's valid lookup, stops the run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from answer_bench import CITIZEN, population_reply  # noqa: E402
from asgi_scope import get_scope  # noqa: E402
from lxml import etree  # noqa: E402

from adapter_api.access import access_entry  # noqa: E402
from adapter_api.auth import admitted_client  # noqa: E402
from adapter_api.clients import ApiClient, RateLimit, load_clients  # noqa: E402
from adapter_api.container import Container  # noqa: E402
from adapter_api.issues import IssueDirectory  # noqa: E402
from adapter_api.metrics import Metrics  # noqa: E402
from adapter_api.rate_limits import RateLimiter, add_rate_limit_fields  # noqa: E402
from adapter_api.request_guard import Refusal, body_refusal, head_refusal, reads_body  # noqa: E402
from adapter_api.request_id import (  # noqa: E402
    adopt_request_id,
    echo_request_id,
    request_id_var,
)
from adapter_api.routes.citizens import (  # noqa: E402
    GET_CITIZEN,
    LOOKUP_OPERATION,
    check_issue,
    lookup_route,
)
from adapter_api.routes.context import call_context, model_json, request_id_in  # noqa: E402
from adapter_api.routes.fast_path import citizen_lookup_inputs  # noqa: E402
from connectors.base import CallContext, UpstreamConfig  # noqa: E402
from connectors.echo import echoes_faithfully  # noqa: E402
from connectors.exchange import OK, Exchange  # noqa: E402
from connectors.population import PopulationConnector  # noqa: E402
from connectors.soap import ENVELOPE  # noqa: E402
from lienthong.settings import Settings  # noqa: E402
from schemas.models import Citizen  # noqa: E402
from schemas.wire import population as wire  # noqa: E402
from schemas.wire.xroad import XRoadHeader, request_hash  # noqa: E402
from security.admission import BodyLimits  # noqa: E402
from security.http_signatures import HttpSigner  # noqa: E402
from security.keys import load_party  # noqa: E402
from security.rate_counters import MemoryRateCounter  # noqa: E402
from security.trust import TrustStore  # noqa: E402
from security.wsse import verify_envelope  # noqa: E402
from store.access_log import AccessLogEntry  # noqa: E402
from store.dossier_persons import PurposeFacts  # noqa: E402

ROUNDS = 5
#: the checks, in the order a lookup makes them
CHECKS = (
    "lookup_inputs",
    "request_guard",
    "request_id",
    "admission",
    "purpose",
    "request_build",
    "resilience",
    "echo",
    "read_answer",
    "metrics",
    "access_entry",
    "answer_json",
)
CLIENT_ID = "province-app"
#: the dossier's sector (the adapter bench registers its dossiers in it)
SECTOR = "TP.HT"
#: POSTs a signed GetCitizen envelope (as the connector does); the reply's bytes
Post = Callable[[bytes], Awaitable[bytes]]


def clients_file_text(keys: Path) -> str:
    """The adapter bench's clients file: ``province-app`` with a limit the bench never reaches
    (it measures the adapter, not 429s)."""
    return (
        f'[[clients]]\nid = "{CLIENT_ID}"\nrole = "province"\n'
        f'certificate = "{keys}/{CLIENT_ID}/cert.pem"\n'
        'rate_limits = { "*" = "1000000000/60" }\n'
    )


@dataclass(frozen=True, slots=True)
class Lookup:
    """One lookup as the adapter bench's load generator sends it."""

    base: str
    citizen_id: str
    user_id: str
    issue: str

    @property
    def path(self) -> str:
        return f"/v1/citizens/{self.citizen_id}"


class StoredPurposes:
    """The store's answer for the dossiers of the run (``DossierReads.purpose``): the directory
    asks it once per dossier, then answers from its cache for a minute."""

    def __init__(self, facts: Mapping[str, PurposeFacts]) -> None:
        self.facts = dict(facts)
        self.reads = 0

    async def purpose(self, dossier_code: str) -> PurposeFacts | None:
        self.reads += 1
        return self.facts.get(dossier_code)


@dataclass
class KeptEntries:
    """The access log as ``check_issue`` writes a refusal to it."""

    entries: list[AccessLogEntry] = field(default_factory=list)

    async def record(self, entry: AccessLogEntry) -> None:
        self.entries.append(entry)


@dataclass
class PurposeWiring:
    """What ``check_issue`` reads of the adapter's container."""

    issues: IssueDirectory
    settings: Settings
    access_log: KeptEntries


@dataclass(frozen=True, slots=True)
class Check:
    """One check: ``inputs(n)`` makes n lookups' inputs (outside the timed code), ``run(item)``
    checks one (a coroutine function when ``is_async``), ``accepted(verdict)`` says whether the
    verdict of a valid lookup is the expected one."""

    inputs: Callable[[int], list[Any]]
    run: Callable[[Any], Any]
    accepted: Callable[[Any], bool]
    is_async: bool = False


class LookupChecks:
    """The adapter's checks of one lookup, wired as the adapter wires them (module docstring).

    Made by :func:`lookup_checks`; each method checks one lookup's input and returns its
    verdict (or raises the adapter's refusal), so that a test can hand it a hostile input.
    """

    def __init__(
        self,
        keys: Path,
        lookup: Lookup,
        clients_file: Path,
        connector: PopulationConnector,
    ) -> None:
        self.lookup = lookup
        settings = Settings()
        self.settings = settings
        self.clients = load_clients(clients_file)
        client = self.clients.get(CLIENT_ID)
        if client is None:
            raise LookupError(f"{clients_file} has no {CLIENT_ID}")
        self.client: ApiClient = client
        self.rate_limiter = RateLimiter(
            MemoryRateCounter(),  # one adapter process without Redis: its counter
            default=RateLimit(settings.rate_limit_requests, settings.rate_limit_window_seconds),
            verify_budget=settings.verify_daily_budget,
            citizen_key=b"\x07" * 32,
        )
        self.body_limits = BodyLimits(settings.max_body_bytes, settings.body_limits)
        self.stored = StoredPurposes(
            {lookup.issue: PurposeFacts(SECTOR, frozenset({lookup.citizen_id}), None)}
        )
        self.access_log = KeptEntries()
        self.wiring = PurposeWiring(
            IssueDirectory(self.stored),  # type: ignore[arg-type]
            settings,
            self.access_log,
        )
        self.connector = connector
        #: the GetCitizen request as the connector sends it: its context, header, signed bytes
        self.ctx: CallContext = call_context(client, user_id=lookup.user_id, issue=lookup.issue)
        self.header: XRoadHeader = connector.header_for(GET_CITIZEN, self.ctx)
        payload = wire.build_get_citizen_request(lookup.citizen_id)
        self.signed = connector.sign(connector.envelope(self.header, payload))
        self.metrics = Metrics()
        self.route = lookup_route()
        self.headers = _signed_headers(keys, lookup)
        self.reply_header: etree._Element | None = None
        self.reply_body: etree._Element | None = None
        self.citizen: Citizen | None = None
        self.exchange: Exchange | None = None

    def take_reply(self, reply: bytes) -> None:
        """Verify the population's ``reply`` to :attr:`signed` once (not timed) and keep its
        header and body for the echo and the reading."""
        verified = verify_envelope(
            reply, self.connector.trust, expected_party=self.connector.config.signer_party
        )
        children = [child for child in verified.body if isinstance(child.tag, str)]
        if len(children) != 1:
            raise ValueError("the reply's Body must hold one element")
        self.reply_header, self.reply_body = verified.header, children[0]
        self.citizen = wire.read_get_citizen_response(children[0])
        now = dt.datetime.now(dt.UTC)
        self.exchange = Exchange(
            upstream="population",
            operation=GET_CITIZEN,
            protocol="soap",
            message_id=self.ctx.message_id,
            client=CLIENT_ID,
            sender="adapter",
            receiver="population",
            user_id=self.ctx.user_id,
            issue=self.ctx.issue,
            method="POST",
            url=self.connector.url,
            request=self.signed,
            request_headers={},
            response=reply,
            response_headers={},
            status=200,
            outcome=OK,
            started_at=now - dt.timedelta(milliseconds=3),
            finished_at=now,
        )

    # ------------------------------------------------------------------ the inputs

    def scope(self, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
        """The lookup's ASGI scope as the adapter's server hands it on (the signature gate's
        verdict in its state)."""
        scope = get_scope(self.lookup.path, list(self.headers if headers is None else headers))
        scope["state"] = {"client_id": CLIENT_ID}
        scope["route"] = self.route
        return scope

    def scopes_and_starts(self, count: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(self.scope(), _answer_start()) for _ in range(count)]

    # ------------------------------------------------------------------ the checks

    def lookup_inputs(self, item: tuple[str, list[tuple[bytes, bytes]]]) -> Any:
        citizen_id, headers = item
        return citizen_lookup_inputs(citizen_id, headers)

    def request_guard(self, scope: dict[str, Any]) -> tuple[Refusal | None, int]:
        """The front layer's refusal of the request (None: none) and the route's body limit,
        which the signature gate holds a declared or streamed body to."""
        refusal = head_refusal(scope)
        if refusal is None and reads_body(scope):
            refusal = body_refusal(b"")  # a lookup is a GET: not asked
        return refusal, self.body_limits(scope["method"], scope["path"])

    def request_id(self, item: tuple[dict[str, Any], dict[str, Any]]) -> str:
        scope, start = item
        raw, token = adopt_request_id(scope)
        try:
            echo_request_id(start, raw)
            return request_id_in(scope)
        finally:
            request_id_var.reset(token)

    def admission(self, item: tuple[dict[str, Any], dict[str, Any]]) -> ApiClient:
        scope, start = item
        client = admitted_client(scope, self.clients, self.rate_limiter, LOOKUP_OPERATION)
        add_rate_limit_fields(start, scope)
        return client

    async def purpose(self, item: tuple[str, dict[str, Any]]) -> str:
        citizen_id, scope = item
        lookup = self.lookup
        await check_issue(
            cast(Container, self.wiring),
            scope,
            self.client,
            citizen_id=citizen_id,
            user_id=lookup.user_id,
            issue=lookup.issue,
            operation=GET_CITIZEN,
        )
        return citizen_id

    def request_build(self, citizen_id: str) -> etree._Element:
        lookup = self.lookup
        ctx = call_context(self.client, user_id=lookup.user_id, issue=lookup.issue)
        payload = wire.build_get_citizen_request(citizen_id)
        header = self.connector.header_for(GET_CITIZEN, ctx)
        return self.connector.envelope(header, payload)

    async def resilience(self, answer: etree._Element) -> etree._Element:
        async def attempt(time_limit: float) -> etree._Element:
            return answer

        return await self.connector.resilience.call(attempt, message_id=self.ctx.message_id)

    def echo(self, header: etree._Element) -> bool:
        return echoes_faithfully(self.header, header, request_hash(self.signed))

    def read_answer(self, element: etree._Element) -> Citizen:
        return wire.read_get_citizen_response(element)

    def observe(self, scope: dict[str, Any]) -> None:
        metrics = self.metrics
        with metrics.upstream_call("population", GET_CITIZEN):
            metrics.observe_exchange(cast(Exchange, self.exchange))
        metrics.observe_request(scope, 200, 0.004)

    def requests_counted(self) -> float:
        """The lookups the metrics have counted answered 200."""
        value = self.metrics.registry.get_sample_value(
            "lienthong_http_requests_total",
            {"route": self.route.path, "method": "GET", "status": "200"},
        )
        return 0.0 if value is None else value

    def access(self, request_id: str) -> AccessLogEntry:
        fields = self.client.citizen_fields
        return access_entry(
            self.lookup.citizen_id, self.client, self.ctx, GET_CITIZEN, fields, request_id
        )

    def answer_json(self, citizen: Citizen) -> bytes:
        return model_json(citizen, include=self.client.citizen_fields)

    # ------------------------------------------------------------------ as timed

    def cases(self) -> dict[str, Check]:
        """Every check with its inputs and the verdict a valid lookup gets."""
        lookup, header, body = self.lookup, self.reply_header, self.reply_body
        citizen = self.citizen
        if header is None or body is None or citizen is None:
            raise RuntimeError("take_reply first: the echo and the reading need a reply")
        fields = self.client.citizen_fields

        def repeat(value: object) -> Callable[[int], list[Any]]:
            return lambda count: [value] * count

        def scopes(count: int) -> list[dict[str, Any]]:
            return [self.scope() for _ in range(count)]

        def fresh_request_id(verdict: str) -> bool:
            return len(verdict) == 36 and verdict.count("-") == 4

        def answered(verdict: bytes) -> bool:
            shown = json.loads(verdict)
            return shown.get("citizen_id") == citizen.citizen_id and set(shown) <= fields

        def entry_of_lookup(entry: AccessLogEntry) -> bool:
            return entry.citizen_id == lookup.citizen_id and bool(entry.fields)

        found = {
            "lookup_inputs": Check(
                repeat((lookup.citizen_id, self.headers)),
                self.lookup_inputs,
                lambda verdict: verdict is not None and verdict["issue"] == lookup.issue,
            ),
            "request_guard": Check(
                scopes,
                self.request_guard,
                # no refusal; a GET may carry no body (the settings' "GET *": 0)
                lambda verdict: verdict == (None, 0),
            ),
            "request_id": Check(self.scopes_and_starts, self.request_id, fresh_request_id),
            "admission": Check(
                self.scopes_and_starts, self.admission, lambda verdict: verdict is self.client
            ),
            "purpose": Check(
                lambda count: [(lookup.citizen_id, scope) for scope in scopes(count)],
                self.purpose,
                lambda verdict: verdict == lookup.citizen_id,
                is_async=True,
            ),
            "request_build": Check(
                repeat(lookup.citizen_id),
                self.request_build,
                lambda verdict: verdict.tag == ENVELOPE,
            ),
            "resilience": Check(
                repeat(body), self.resilience, lambda verdict: verdict is body, is_async=True
            ),
            "echo": Check(repeat(header), self.echo, lambda verdict: verdict is True),
            "read_answer": Check(repeat(body), self.read_answer, citizen.__eq__),
            "metrics": Check(scopes, self.observe, lambda _: self.requests_counted() >= 1),
            "access_entry": Check(repeat("req-1"), self.access, entry_of_lookup),
            "answer_json": Check(repeat(citizen), self.answer_json, answered),
        }
        return {name: found[name] for name in CHECKS}


def _answer_start() -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"420")],
    }


def _signed_headers(keys: Path, lookup: Lookup) -> list[tuple[bytes, bytes]]:
    """The lookup's headers as the adapter's server sees them: signed by ``province-app`` as
    the adapter bench's load generator signs them, names lower case."""
    signer = HttpSigner(load_party(keys, CLIENT_ID), ttl=60)
    url = lookup.base + lookup.path
    fields = {"X-User-Id": lookup.user_id, "X-Issue": lookup.issue}
    fields.update(signer.sign_request("GET", url, fields, b""))
    host = lookup.base.split("://", 1)[1]
    raw = [(b"host", host.encode("ascii"))]
    raw += [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in fields.items()
    ]
    return raw


async def lookup_checks(
    keys: Path,
    lookup: Lookup,
    *,
    soap_url: str = "http://population.test/soap",
    clients_file: Path | None = None,
    post: Post | None = None,
) -> LookupChecks:
    """The checks of ``lookup`` on the PKI in ``keys``: the GetCitizen request signed by the
    connector and sent with ``post`` (the run's mock), or answered here
    (``answer_bench.population_reply``).
    ``clients_file`` is the adapter's (one like the adapter bench's is written when absent)."""
    if clients_file is None:
        clients_file = keys / "bench-clients.toml"
        clients_file.write_text(clients_file_text(keys), encoding="utf-8")
    connector = PopulationConnector(
        UpstreamConfig(name="population", base_url=soap_url),
        credentials=load_party(keys, "adapter"),
        trust=TrustStore.from_pem_file(keys / "ca" / "cert.pem"),
        member_code="H04",
    )
    checks = LookupChecks(keys, lookup, clients_file, connector)
    if post is None:
        reply = population_reply(keys, checks.header, checks.signed)
    else:
        reply = await post(checks.signed)
    checks.take_reply(reply)
    return checks


async def measure(checks: LookupChecks, *, calls: int, rounds: int = ROUNDS) -> dict[str, float]:
    """CPU ms per lookup of each check (best of ``rounds`` rounds of ``calls`` lookups, the
    checks interleaved) and their ``total``; raises ``AssertionError`` when a check's verdict
    on the valid lookup is not the expected one."""
    cases = checks.cases()
    best = dict.fromkeys(cases, math.inf)
    for _ in range(rounds):
        for name, check in cases.items():
            items = check.inputs(calls)
            verdict: Any = None
            run = check.run
            if check.is_async:
                start = time.process_time()
                for item in items:
                    verdict = await run(item)
            else:
                start = time.process_time()
                for item in items:
                    verdict = run(item)
            spent = time.process_time() - start
            best[name] = min(best[name], spent / len(items) * 1000)
            if not check.accepted(verdict):
                raise AssertionError(f"{name}: the valid lookup got {verdict!r}")
    figures = {name: float(value) for name, value in best.items()}
    figures["total"] = sum(figures.values())
    return figures


def standalone(calls: int, rounds: int) -> dict[str, float]:
    """The checks on a fresh development PKI, the reply signed here (no mock, no adapter)."""
    from security.pki import init_dev_pki

    with tempfile.TemporaryDirectory(prefix="adapter-checks-") as folder:
        keys = Path(folder)
        init_dev_pki(keys)
        lookup = Lookup(
            "http://127.0.0.1:8000",
            CITIZEN.citizen_id,
            "VN001090000001",
            "000.00.04.H04-261126-0001",
        )

        async def run() -> dict[str, float]:
            checks = await lookup_checks(keys, lookup)
            return await measure(checks, calls=calls, rounds=rounds)

        return asyncio.run(run())


def report(figures: Mapping[str, float]) -> str:
    """One line: each check's ms per lookup and the total."""
    parts = ", ".join(f"{name} {figures[name]:.3f}" for name in CHECKS)
    return f"checks outside the floor: {figures['total']:.3f} ms CPU per lookup ({parts})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="lookups per round and check")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    print(report(standalone(args.calls, args.rounds)))


if __name__ == "__main__":
    main()


__all__ = [
    "CHECKS",
    "Check",
    "Lookup",
    "LookupChecks",
    "clients_file_text",
    "lookup_checks",
    "measure",
    "report",
    "standalone",
]
