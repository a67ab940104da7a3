"""The fast paths answer exactly as the declared parameters do (``adapter_api.routes.fast_path``).

Two adapters run side by side, alike but for one thing: the second has its fast paths turned off
(``without_fast_paths``), so every request there is read by FastAPI from the declared
parameters. Each request — valid ones, and invalid ones of every kind the readers must leave to
FastAPI — goes to both, in the same order (so both stores go through the same states), and the
answers must have the same status, the same problem ``code`` and the same body (but for the
request id each answer carries).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

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
    """The adapter with its fast paths, and the same adapter without them."""
    fast_root = tmp_path_factory.mktemp("parity_fast")
    plain_root = tmp_path_factory.mktemp("parity_plain")
    with (
        running_sandbox(fast_root, dev_keys) as fast,
        running_sandbox(plain_root, dev_keys, fast_paths=False) as plain,
    ):
        yield fast, plain


def _comparable(response: httpx.Response) -> tuple[int, str | None, Any]:
    """Status, problem code and body, less the request id that differs on every answer."""
    try:
        body = response.json()
    except ValueError:
        return response.status_code, None, response.text
    if isinstance(body, dict):
        body.pop("request_id", None)
        return response.status_code, body.get("code"), body
    return response.status_code, None, body


def _both(
    sandboxes: tuple[Sandbox, Sandbox],
    method: str,
    path: str,
    *,
    party: str = "province-app",
    content: bytes | None = None,
    headers: Headers | None = None,
) -> tuple[int, str | None, Any]:
    """Send the request to both adapters; their answers must match. The fast adapter's."""
    answers = []
    for sandbox in sandboxes:
        with sandbox.client(party) as client:
            response = client.request(method, path, content=content, headers=headers or [])
        answers.append(_comparable(response))
    assert answers[0] == answers[1], f"{method} {path}"
    return answers[0]


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


JSON: Headers = [("content-type", "application/json")]


def _put(
    sandboxes: tuple[Sandbox, Sandbox],
    code: str,
    content: bytes,
    headers: Headers = JSON,
    party: str = "province-app",
) -> tuple[int, str | None, Any]:
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


def test_citizen_lookup_answers_alike(sandboxes: tuple[Sandbox, Sandbox]) -> None:
    """``GET /v1/citizens/{id}``: a lookup with its purpose, an unknown citizen, and every
    bad or missing or repeated input, alike."""
    fast, plain = sandboxes
    citizen = fast.citizens(1)[0]["citizen_id"]
    assert plain.citizens(1)[0]["citizen_id"] == citizen
    issue = new_dossier_code()
    listed = dossier_body(issue, persons=[citizen, UNKNOWN_CITIZEN])
    assert _put(sandboxes, issue, _json(listed))[0] == 201
    unlisted = new_dossier_code()
    assert _put(sandboxes, unlisted, _json(dossier_body(unlisted)))[0] == 201

    def lookup(
        headers: Headers, who: str = citizen, party: str = "province-app"
    ) -> tuple[Any, ...]:
        return _both(sandboxes, "GET", f"/v1/citizens/{who}", headers=headers, party=party)

    user, purpose = ("X-User-Id", OFFICIAL), ("X-Issue", issue)
    found = lookup([user, purpose])
    assert found[0] == 200
    assert found[2]["citizen_id"] == citizen
    assert lookup([user, purpose], who=UNKNOWN_CITIZEN)[:2] == (404, "citizen_not_found")
    assert lookup([user, ("X-Issue", unlisted)])[:2] == (403, "purpose_mismatch")
    assert lookup([user, ("X-Issue", new_dossier_code())])[:2] == (422, "unknown_issue")
    assert lookup([user, purpose], party="ministry")[0] == 403
    refused = [
        lookup([purpose]),
        lookup([user]),
        lookup([]),
        lookup([user, user, purpose]),
        lookup([user, ("X-User-Id", "VN079203000456"), purpose]),
        lookup([user, purpose, ("X-Issue", unlisted)]),
        lookup([("X-User-Id", "079203000456"), purpose]),
        lookup([("X-User-Id", "VN999203000456"), purpose]),
        lookup([user, ("X-Issue", "not-a-code")]),
        lookup([user, ("X-Issue", "000.00.04.H04-261326-0001")]),
        lookup([user, purpose], who="12345"),
        lookup([user, purpose], who="999203000456"),
    ]
    # a repeated header is refused before any route (400 repeated_header), the rest by the route
    assert all(answer[0] in (400, 422) for answer in refused), refused
