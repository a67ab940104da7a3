"""The fast paths answer exactly as the declared parameters do (``adapter_api.routes.fast_path``,
and the direct route of ``adapter_api.routes.direct``).

Two adapters run side by side, alike but for one thing: the second has its fast paths turned off
(``without_fast_paths``), so every request there is routed and read by FastAPI from the declared
parameters. Each request — valid ones, and invalid ones of every kind the readers must leave to
FastAPI — goes to both, in the same order (so both stores go through the same states), and the
answers must have the same status, the same problem ``code``, the same body (but for the
request id each answer carries) and the same headers (but for those that carry the request id,
the signature or the time). What the requests leave behind must match too: the request counts
by route template, and the access log.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter_api.clients import ClientRegistry, RateLimit
from adapter_api.container import Container
from adapter_api.rate_limits import RateLimiter
from connectors.base import CallContext
from connectors.errors import (
    BadUpstreamResponse,
    BadUpstreamSignature,
    CircuitOpen,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from schemas.errors import InconsistentRecord
from schemas.models import Citizen
from security.rate_counters import MemoryRateCounter
from store.errors import DatabaseUnavailable, StoreError
from tests.e2e.api_harness import (
    OFFICIAL,
    Sandbox,
    dossier_body,
    new_dossier_code,
    running_sandbox,
)

Headers = list[tuple[str, str]]
#: a valid CCCD the population mock does not know (a lookup of it is a 404 upstream)
UNKNOWN_CITIZEN = "001099999999"


@pytest.fixture(scope="module")
def sandboxes(
    tmp_path_factory: pytest.TempPathFactory, dev_keys: Path
) -> Iterator[tuple[Sandbox, Sandbox]]:
    """The adapter with its fast paths, and the same adapter without them; both count calls
    at a fixed instant (the RateLimit fields then say the same on both)."""
    fast_root = tmp_path_factory.mktemp("parity_fast")
    plain_root = tmp_path_factory.mktemp("parity_plain")
    with (
        running_sandbox(fast_root, dev_keys) as fast,
        running_sandbox(plain_root, dev_keys, fast_paths=False) as plain,
    ):
        for sandbox in (fast, plain):
            sandbox.container.rate_limiter = _fixed_rate_limiter(1_000_000)
        yield fast, plain


#: response headers that differ on every answer: the request id, the signature over it, the time
_UNCOMPARED_HEADERS = frozenset(
    {"x-request-id", "signature", "signature-input", "content-digest", "date", "server"}
)
Answer = tuple[int, str | None, Any]


def _comparable(response: httpx.Response, base_url: str) -> tuple[Answer, list[tuple[str, str]]]:
    """Status, problem code and body, less the request id that differs on every answer; and
    the headers, less those that differ on every answer (and the adapter's own address)."""
    headers = [
        (name, value.replace(base_url, "{base}"))
        for name, value in response.headers.multi_items()
        if name not in _UNCOMPARED_HEADERS
    ]
    try:
        body = response.json()
    except ValueError:
        return (response.status_code, None, response.text), headers
    if isinstance(body, dict):
        body.pop("request_id", None)
        return (response.status_code, body.get("code"), body), headers
    return (response.status_code, None, body), headers


def _both(
    sandboxes: tuple[Sandbox, Sandbox],
    method: str,
    path: str,
    *,
    party: str = "province-app",
    content: bytes | None = None,
    headers: Headers | None = None,
    verify: bool = True,
) -> Answer:
    """Send the request to both adapters; their answers must match. The fast adapter's.

    ``verify=False``: the answers' signatures are not checked (a HEAD answer has no body for
    its digest)."""
    answers = []
    for sandbox in sandboxes:
        with sandbox.client(party, verify=verify) as client:
            response = client.request(method, path, content=content, headers=headers or [])
        answers.append(_comparable(response, sandbox.base_url))
    assert answers[0] == answers[1], f"{method} {path}"
    return answers[0][0]


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


JSON: Headers = [("content-type", "application/json")]


def _put(
    sandboxes: tuple[Sandbox, Sandbox],
    code: str,
    content: bytes,
    headers: Headers = JSON,
    party: str = "province-app",
) -> Answer:
    return _both(
        sandboxes, "PUT", f"/v1/dossiers/{code}", content=content, headers=headers, party=party
    )


def _valid_body(code: str, **changes: Any) -> dict[str, Any]:
    return {**dossier_body(code), **changes}


def _with_duplicate_status(code: str) -> bytes:
    text = _json(_valid_body(code, status=1)).decode()
    return (text[:-1] + ', "status": 2}').encode()


def _put_cases(code: str) -> list[tuple[str, bytes, Headers]]:
    """(name, body, headers) of PUTs on a new dossier ``code``, none of which registers it."""
    valid = _valid_body(code)
    missing = {k: v for k, v in valid.items() if k != "procedure_code"}
    return [
        ("bad JSON", b'{"procedure_code": ', JSON),
        ("trailing text", _json(valid) + b" x", JSON),
        ("a list", b"[]", JSON),
        ("null", b"null", JSON),
        ("status as text", _json(_valid_body(code, status="1")), JSON),
        ("status as float", _json(_valid_body(code, status=1.0)), JSON),
        ("status as boolean", _json(_valid_body(code, status=True)), JSON),
        ("status out of range", _json(_valid_body(code, status=11)), JSON),
        ("title as number", _json(_valid_body(code, title=5)), JSON),
        ("naive instant", _json(_valid_body(code, received_at="2026-11-26T08:30:00")), JSON),
        ("instant as number", _json(_valid_body(code, received_at=1796526442)), JSON),
        ("persons as object", _json(_valid_body(code, related_persons={})), JSON),
        ("bad applicant id", _json(_valid_body(code, applicant_id="123")), JSON),
        ("missing field", _json(missing), JSON),
        ("unknown field", _json(_valid_body(code, colour="red")), JSON),
        ("status not initial", _json(_valid_body(code, status=5)), JSON),
        ("too large", _json(_valid_body(code, title="x" * 2_000_000)), JSON),
        ("text/plain", _json(valid), [("content-type", "text/plain")]),
        ("no content type", _json(valid), []),
        ("NaN", _json(valid).replace(b'"status": 1', b'"status": NaN'), JSON),
    ]


def test_put_dossier_answers_alike(sandboxes: tuple[Sandbox, Sandbox]) -> None:
    """``PUT /v1/dossiers/{code}``: valid, repeated, and invalid in every way, alike."""
    code = new_dossier_code()
    for name, content, headers in _put_cases(code):
        status, _, body = _put(sandboxes, code, content, headers)
        assert status >= 400, (name, body)
    assert _put(sandboxes, code, _json(_valid_body(code)), party="ministry")[:2] == (
        403,
        "operation_not_allowed",
    )
    first = _put(sandboxes, code, _json(_valid_body(code)))
    again = _put(sandboxes, code, _json(_valid_body(code)))
    charset = _put(
        sandboxes,
        code,
        _json(_valid_body(code)),
        [("content-type", "Application/JSON; charset=utf-8")],
    )
    # another JSON type: the reader leaves it to FastAPI, which reads it as JSON
    subtype = _put(
        sandboxes, code, _json(_valid_body(code)), [("content-type", "application/ld+json")]
    )
    # JSON in UTF-16: the reader (UTF-8 only) leaves it to FastAPI, which reads it
    utf16 = _put(sandboxes, code, json.dumps(_valid_body(code)).encode("utf-16"))
    duplicate_key = _put(sandboxes, code, _with_duplicate_status(code))
    assert (first[0], again[0], charset[0], subtype[0], utf16[0]) == (201, 200, 200, 200, 200)
    assert duplicate_key[:2] == (400, "duplicate_key")  # refused before any route


def test_put_dossier_bad_codes_answer_alike(sandboxes: tuple[Sandbox, Sandbox]) -> None:
    """A code off the pattern, one on it but invalid (month 13), one whose day is not the
    body's receipt day: the same refusals."""
    code = new_dossier_code()
    valid = _json(_valid_body(code))
    other_day = new_dossier_code(dt.date(2026, 11, 25))
    for bad in ("not-a-code", "000.00.04.H04-261326-0001", other_day):
        status, problem, _ = _put(sandboxes, bad, valid)
        assert status == 422, (bad, problem)


def _event(sequence: Any, status: Any, minute: int = 0, **changes: Any) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "status": status,
        "occurred_at": f"2026-11-26T09:{minute:02d}:00+00:00",
        **changes,
    }


def test_post_event_answers_alike(sandboxes: tuple[Sandbox, Sandbox]) -> None:
    """``POST /v1/dossiers/{code}/events``: accepted, repeated, out of order, illegal,
    malformed, on an unknown dossier or a bad code, alike."""
    code = new_dossier_code()
    assert _put(sandboxes, code, _json(_valid_body(code)))[0] == 201

    def post(content: bytes, headers: Headers = JSON, target: str = code) -> tuple[Any, ...]:
        return _both(
            sandboxes, "POST", f"/v1/dossiers/{target}/events", content=content, headers=headers
        )

    refused = [
        post(b'{"sequence": 1,'),
        post(_json(_event("1", 2))),
        post(_json(_event(1, "2"))),
        post(_json(_event(1.0, 2))),
        post(_json({"sequence": 1, "status": 2})),
        post(_json(_event(1, 2, occurred_at="2026-11-26T09:00:00"))),
        post(_json(_event(1, 2, colour="red"))),
        post(_json(_event(1, 2)), [("content-type", "text/plain")]),
        post(_json(_event(1, 2)), target=new_dossier_code()),
        post(_json(_event(1, 2)), target="not-a-code"),
        post(_json(_event(5, 4))),
    ]
    assert all(answer[0] >= 400 for answer in refused)
    assert post(_json(_event(1, 2)))[0] == 202
    assert post(_json(_event(1, 2)))[2]["duplicate"] is True
    assert post(_json(_event(2, 1, 5)))[:2] == (409, "illegal_transition")
    assert post(_json(_event(3, 4, 10)))[:2] == (409, "sequence_conflict")


@pytest.fixture(scope="module")
def purpose(sandboxes: tuple[Sandbox, Sandbox]) -> tuple[str, str]:
    """A citizen both population mocks know, and a dossier registered on both naming it (and
    :data:`UNKNOWN_CITIZEN`)."""
    fast, plain = sandboxes
    citizen = fast.citizens(1)[0]["citizen_id"]
    assert plain.citizens(1)[0]["citizen_id"] == citizen
    issue = new_dossier_code()
    listed = dossier_body(issue, persons=[citizen, UNKNOWN_CITIZEN])
    assert _put(sandboxes, issue, _json(listed))[0] == 201
    return citizen, issue


def _lookup_of(
    sandboxes: tuple[Sandbox, Sandbox], purpose: tuple[str, str]
) -> Callable[..., Answer]:
    """A lookup sent to both adapters: of the purpose's citizen with its dossier, unless told."""
    citizen, issue = purpose

    def lookup(
        headers: Headers | None = None,
        who: str = citizen,
        party: str = "province-app",
        method: str = "GET",
        path: str | None = None,
        verify: bool = True,
    ) -> Answer:
        if headers is None:
            headers = [("X-User-Id", OFFICIAL), ("X-Issue", issue)]
        target = f"/v1/citizens/{who}" if path is None else path
        return _both(sandboxes, method, target, headers=headers, party=party, verify=verify)

    return lookup


def test_citizen_lookup_answers_alike(
    sandboxes: tuple[Sandbox, Sandbox], purpose: tuple[str, str]
) -> None:
    """``GET /v1/citizens/{id}``: a lookup with its purpose, an unknown citizen, and every
    bad or missing or repeated input, alike."""
    citizen, issue = purpose
    unlisted = new_dossier_code()
    assert _put(sandboxes, unlisted, _json(dossier_body(unlisted)))[0] == 201
    lookup = _lookup_of(sandboxes, purpose)
    user, purpose_header = ("X-User-Id", OFFICIAL), ("X-Issue", issue)
    found = lookup()
    assert found[0] == 200
    assert found[2]["citizen_id"] == citizen
    assert lookup(who=UNKNOWN_CITIZEN)[:2] == (404, "citizen_not_found")
    assert lookup([user, ("X-Issue", unlisted)])[:2] == (403, "purpose_mismatch")
    assert lookup([user, ("X-Issue", new_dossier_code())])[:2] == (422, "unknown_issue")
    assert lookup(party="ministry")[:2] == (403, "operation_not_allowed")
    assert lookup(party="integrator")[:2] == (403, "operation_not_allowed")
    refused = [
        lookup([purpose_header]),
        lookup([user]),
        lookup([]),
        lookup([user, user, purpose_header]),
        lookup([user, ("X-User-Id", "VN079203000456"), purpose_header]),
        lookup([user, purpose_header, ("X-Issue", unlisted)]),
        lookup([("X-User-Id", "079203000456"), purpose_header]),
        lookup([("X-User-Id", "VN999203000456"), purpose_header]),
        lookup([("X-User-Id", "vn001085000123"), purpose_header]),
        lookup([user, ("X-Issue", "not-a-code")]),
        lookup([user, ("X-Issue", "000.00.04.H04-261326-0001")]),
        lookup([user, ("X-Issue", issue.lower())]),
        lookup(who="12345"),
        lookup(who="999203000456"),
        lookup(who="٠٠١٠٨٥٠٠٠١٢٣"),
        lookup(who="verify"),
    ]
    # a repeated header is refused before any route (400 repeated_header), the rest by the route
    assert all(answer[0] in (400, 422) for answer in refused), refused
    # header names in another case are the same headers
    assert lookup([("x-user-id", OFFICIAL), ("X-ISSUE", issue)])[0] == 200


def test_citizen_lookup_paths_and_methods_answer_alike(
    sandboxes: tuple[Sandbox, Sandbox], purpose: tuple[str, str]
) -> None:
    """What the direct route leaves to FastAPI — another method, a trailing slash, another
    path — and what it serves in spite of a query string, alike."""
    citizen, _ = purpose
    lookup = _lookup_of(sandboxes, purpose)
    assert lookup(path=f"/v1/citizens/{citizen}?fields=all&citizen_id=1")[0] == 200
    assert lookup(path=f"/v1/citizens/{citizen}?")[0] == 200
    assert lookup(method="HEAD", verify=False)[0] == 405
    assert lookup(method="OPTIONS")[0] == 405
    assert lookup(method="POST")[0] == 405
    assert lookup(method="DELETE")[0] == 405
    others = [
        lookup(path=f"/v1/citizens/{citizen}/"),
        lookup(path=f"/v1/citizens//{citizen}"),
        lookup(path=f"/v1/citizens/{citizen}/x"),
        lookup(path=f"/V1/citizens/{citizen}"),
        lookup(path=f"/v1/Citizens/{citizen}"),
        lookup(path=f"/v1/citizens{citizen}"),
        lookup(path="/v1/citizens/"),
        lookup(path="/v1/citizens"),
        lookup(path=f"/v1/citizens/{citizen[:-1]}%3{citizen[-1]}"),
        lookup(path=f"/v1/citizens/{citizen}%0A"),
        lookup(path=f"/v1/citizens/{citizen}%20"),
        lookup(path=f"/v1/citizens/%2F{citizen}"),
    ]
    assert all(answer[0] >= 200 for answer in others), others


def _fixed_rate_limiter(calls: int) -> RateLimiter:
    """At most ``calls`` calls a minute for every client, counted at a fixed instant (the
    RateLimit fields' ``t`` is then the same on both adapters)."""
    return RateLimiter(
        MemoryRateCounter(clock=lambda: 1_800_000_000.0),
        default=RateLimit(calls, 60),
        verify_budget=5,
        citizen_key=b"parity",
    )


@contextmanager
def _swapped(
    sandboxes: tuple[Sandbox, Sandbox], name: str, make: Callable[[Container], Any]
) -> Iterator[None]:
    """Each adapter's container with its ``name`` replaced by ``make(container)`` for the
    block (what the FastAPI route and the direct route both read on every request)."""
    saved = [getattr(sandbox.container, name) for sandbox in sandboxes]
    for sandbox in sandboxes:
        setattr(sandbox.container, name, make(sandbox.container))
    try:
        yield
    finally:
        for sandbox, value in zip(sandboxes, saved, strict=True):
            setattr(sandbox.container, name, value)


def test_citizen_lookup_refusals_of_the_caller_answer_alike(
    sandboxes: tuple[Sandbox, Sandbox], purpose: tuple[str, str]
) -> None:
    """A signer no longer registered (401), and a client over its rate limit (429 with
    ``Retry-After`` and the RateLimit fields; every answer before it carries the fields): a
    refused lookup counts like any other."""
    lookup = _lookup_of(sandboxes, purpose)

    def without_province(container: Container) -> ClientRegistry:
        return ClientRegistry(c for c in container.clients if c.client_id != "province-app")

    with _swapped(sandboxes, "clients", without_province):
        assert lookup()[:2] == (401, "unknown_key")
    assert lookup(party="population")[:2] == (401, "unknown_key")  # refused by the signature
    with _swapped(sandboxes, "rate_limiter", lambda _: _fixed_rate_limiter(3)):
        answers = [
            lookup(),
            lookup([("X-User-Id", OFFICIAL)]),
            lookup(party="ministry"),
            lookup(),
            lookup(),
            lookup([("X-User-Id", OFFICIAL)]),
        ]
    statuses = [answer[:2] for answer in answers]
    assert statuses == [
        (200, None),
        (422, "validation_failed"),
        (403, "operation_not_allowed"),
        (200, None),
        (429, "rate_limited"),
        (429, "rate_limited"),
    ]


class _FailingPopulation:
    """The population database failing every lookup with ``error()``."""

    def __init__(self, inner: Any, error: Callable[[], Exception]) -> None:
        self._inner = inner
        self._error = error
        self.name = inner.name

    def health(self) -> Any:
        return self._inner.health()

    async def get_citizen(self, citizen_id: str, ctx: CallContext) -> Citizen:
        raise self._error()


def test_citizen_lookup_failures_answer_alike(
    sandboxes: tuple[Sandbox, Sandbox], purpose: tuple[str, str]
) -> None:
    """Every way the population call can fail is answered alike: mapped to its problem (502,
    503 with ``Retry-After``, 504) or, not being one the API knows, 500 ``internal_error``."""
    lookup = _lookup_of(sandboxes, purpose)
    failures: list[tuple[Callable[[], Exception], int, str]] = [
        (
            lambda: UpstreamTimeout("slow", upstream="population", message_id="m1"),
            504,
            "upstream_timeout",
        ),
        (lambda: UpstreamUnavailable("down", upstream="population"), 503, "upstream_unavailable"),
        (lambda: CircuitOpen("open", upstream="population"), 503, "circuit_open"),
        (
            lambda: BadUpstreamSignature("bad", upstream="population", fault_code="bad_digest"),
            502,
            "upstream_bad_signature",
        ),
        (lambda: BadUpstreamResponse("odd", upstream="population"), 502, "upstream_bad_response"),
        (
            lambda: UpstreamRejected("no", upstream="population", fault_code="Client"),
            502,
            "upstream_rejected",
        ),
        (lambda: InconsistentRecord("year", field="citizen_id"), 502, "upstream_bad_record"),
        (lambda: DatabaseUnavailable("OperationalError"), 503, "store_unavailable"),
        (lambda: StoreError("unexpected"), 500, "internal_error"),
        (lambda: RuntimeError("a bug"), 500, "internal_error"),
    ]
    for error, status, code in failures:

        def failing(container: Container, error: Callable[[], Exception] = error) -> Any:
            return _FailingPopulation(container.population, error)

        with _swapped(sandboxes, "population", failing):
            assert lookup()[:2] == (status, code)


def _request_counts(sandbox: Sandbox) -> dict[tuple[str, ...], float]:
    """``lienthong_http_requests_total`` by its labels, but for the probes' routes."""
    counts = {}
    for family in sandbox.container.metrics.requests.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels["route"] not in PROBES:
                counts[tuple(sorted(sample.labels.items()))] = sample.value
    return counts


def _settled_request_counts(
    sandboxes: tuple[Sandbox, Sandbox],
) -> tuple[dict[tuple[str, ...], float], dict[tuple[str, ...], float]]:
    """Both adapters' request counts, once they agree or after two seconds: a request is
    counted after its answer's last byte is sent, so the client can read the answer before
    the server has counted it."""
    deadline = time.monotonic() + 2.0
    while True:
        fast, plain = (_request_counts(sandbox) for sandbox in sandboxes)
        if fast == plain or time.monotonic() > deadline:
            return fast, plain
        time.sleep(0.02)


PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
#: what differs on every access-log row: the time, the request id, the upstream message id
_PER_REQUEST = frozenset({"occurred_at", "request_id", "message_id"})


def test_what_the_requests_leave_behind_is_alike(
    sandboxes: tuple[Sandbox, Sandbox], purpose: tuple[str, str]
) -> None:
    """After the same requests, both adapters have counted them under the same route
    templates (the lookup's as ``/v1/citizens/{citizen_id}``), statuses and methods, and
    written the same access-log rows (but for ids and times)."""
    citizen, _ = purpose
    lookup = _lookup_of(sandboxes, purpose)
    assert lookup()[0] == 200
    assert lookup(who=UNKNOWN_CITIZEN)[0] == 404
    fast, plain = _settled_request_counts(sandboxes)
    assert fast == plain
    lookups = {
        (named["method"], named["status"]): value
        for named, value in ((dict(labels), value) for labels, value in fast.items())
        if named["route"] == "/v1/citizens/{citizen_id}"
    }
    assert lookups[("GET", "200")] >= 1
    assert lookups[("GET", "404")] >= 1

    def access_log(who: str) -> list[dict[str, Any]]:
        rows = []
        for sandbox in sandboxes:
            with sandbox.client() as client:
                response = client.get(f"/v1/access-log/{who}", params={"limit": 200})
            assert response.status_code == 200, response.text
            entries = response.json()["entries"]
            rows.append(
                [
                    {k: v for k, v in entry.items() if k not in _PER_REQUEST}
                    | {"has_message_id": entry.get("message_id") is not None}
                    for entry in entries
                ]
            )
        assert rows[0] == rows[1], who
        assert rows[0], who
        return rows[0]

    assert {entry["outcome"] for entry in access_log(citizen)} >= {"answered"}
    assert access_log(UNKNOWN_CITIZEN)[0]["fields"] == []
