"""The front door against strangers: signed accountability, purpose binding, clean input.

Over real HTTP, on SQLite and PostgreSQL: what is logged as accountability (``X-User-Id``,
``X-Issue``, ``X-Request-Id``) must be covered by the request signature and appear once; the
``@authority`` signed must be the adapter's own; a citizen lookup must serve an open dossier that
names the citizen; and each input that once produced a 500 is now refused with a problem.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from security.http_signatures import HttpSigner
from security.keys import load_party
from tests.e2e.api_harness import (
    OFFICIAL,
    Sandbox,
    dossier_body,
    new_dossier_code,
    register_dossier,
    running_sandbox,
)
from tests.support.stores import reset_postgres


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dev_keys: Path
) -> Iterator[Sandbox]:
    """The adapter + mocks (no sync worker) on SQLite, or on the session's PostgreSQL."""
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_dsn")
    root = tmp_path_factory.mktemp(f"front_door_{request.param}")
    with running_sandbox(root, dev_keys, database_url=database_url, run_worker=False) as running:
        if database_url is not None:
            reset_postgres(database_url)
        yield running


@pytest.fixture(scope="module")
def people(sandbox: Sandbox) -> list[str]:
    """Three citizens of the population mock: the first two listed on ``issue``, not the third."""
    return [c["citizen_id"] for c in sandbox.citizens(3)]


@pytest.fixture(scope="module")
def issue(sandbox: Sandbox, people: list[str]) -> str:
    """An open dossier listing the first two citizens."""
    with sandbox.client() as client:
        return register_dossier(client, persons=people[:2])


def _send(
    sandbox: Sandbox,
    method: str,
    path: str,
    *,
    signed: dict[str, str] | list[tuple[str, str]] | None = None,
    added: dict[str, str] | None = None,
    body: bytes = b"",
    url: str | None = None,
) -> httpx.Response:
    """Sign ``signed`` headers (as province-app), then add ``added`` unsigned, and send."""
    target = (url or sandbox.base_url) + path
    headers: list[tuple[str, str]] = [("Host", target.split("/")[2])]
    headers += list(signed.items() if isinstance(signed, dict) else (signed or []))
    if body:
        headers.append(("Content-Type", "application/json"))
    signer = HttpSigner(load_party(sandbox.keys_dir, "province-app"), ttl=60)
    headers += list(signer.sign_request(method, target, headers, body).items())
    headers += list((added or {}).items())
    request = httpx.Request(method, sandbox.base_url + path, headers=headers, content=body)
    with httpx.Client(timeout=30) as client:
        return client.send(request)


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    return problem


def _log(sandbox: Sandbox, citizen: str) -> list[dict[str, Any]]:
    with sandbox.client() as client:
        answer = client.get(f"/v1/access-log/{citizen}")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["entries"])


# --- item 2: what is logged as accountability is signed ---------------------------------------


@pytest.mark.parametrize("name", ["X-User-Id", "X-Issue", "X-Request-Id"])
def test_an_accountability_header_outside_the_signature_is_refused(
    sandbox: Sandbox, issue: str, people: list[str], name: str
) -> None:
    """Each of X-User-Id, X-Issue and X-Request-Id, present but not covered: 401
    unsigned_component, and nothing reaches the access log."""
    headers = {"X-User-Id": OFFICIAL, "X-Issue": issue, "X-Request-Id": f"uncovered-{name}"}
    unsigned = {name: headers.pop(name)}
    before = len(_log(sandbox, people[0]))
    response = _send(sandbox, "GET", f"/v1/citizens/{people[0]}", signed=headers, added=unsigned)
    _problem(response, 401, "unsigned_component")
    assert len(_log(sandbox, people[0])) == before


def test_an_official_changed_after_signing_is_refused(
    sandbox: Sandbox, issue: str, people: list[str]
) -> None:
    """A signed lookup re-sent with another X-User-Id no longer verifies: 401, not logged."""
    signer = HttpSigner(load_party(sandbox.keys_dir, "province-app"), ttl=60)
    url = f"{sandbox.base_url}/v1/citizens/{people[0]}"
    headers = {"X-User-Id": OFFICIAL, "X-Issue": issue, "X-Request-Id": "altered-official"}
    headers.update(signer.sign_request("GET", url, headers, b""))
    headers["X-User-Id"] = "VN001090000456"
    with httpx.Client(timeout=30) as client:
        response = client.get(url, headers=headers)
    _problem(response, 401, "invalid_signature")
    assert all(e["request_id"] != "altered-official" for e in _log(sandbox, people[0]))


@pytest.mark.parametrize("name", ["X-User-Id", "X-Issue", "X-Request-Id"])
def test_a_repeated_accountability_header_is_refused(
    sandbox: Sandbox, issue: str, people: list[str], name: str
) -> None:
    """Two instances of one accountability header, both signed: 400 repeated_header."""
    values = {"X-User-Id": OFFICIAL, "X-Issue": issue, "X-Request-Id": "repeated-1"}
    second = {"X-User-Id": "VN001090000456", "X-Issue": issue, "X-Request-Id": "repeated-2"}
    headers = [*values.items(), (name, second[name])]
    response = _send(sandbox, "GET", f"/v1/citizens/{people[0]}", signed=headers)
    problem = _problem(response, 400, "repeated_header")
    assert problem["errors"][0]["field"] == f"header.{name.lower()}"
    assert "signature" in response.headers  # the refusal is signed like every answer


def test_a_request_signed_for_another_authority_is_refused(sandbox: Sandbox) -> None:
    """``Host: evil.example:443`` signed as such verifies, but is not ours: 401
    unknown_authority; the adapter's own authority (127.0.0.1:port) is accepted."""
    refused = _send(sandbox, "GET", "/v1/services", url="http://evil.example:443")
    _problem(refused, 401, "unknown_authority")
    assert _send(sandbox, "GET", "/v1/services").status_code == 200


# --- item 3: purpose binding ------------------------------------------------------------------


def test_a_listed_person_may_be_looked_up_and_an_unlisted_one_may_not(
    sandbox: Sandbox, issue: str, people: list[str]
) -> None:
    """The dossier lists the first two citizens: their lookups pass, the third is 403
    purpose_mismatch, logged as refused (no fields, no upstream message)."""
    purpose = {"X-User-Id": OFFICIAL, "X-Issue": issue}
    with sandbox.client() as client:
        listed = client.get(f"/v1/citizens/{people[1]}", headers=purpose)
        stranger = client.get(
            f"/v1/citizens/{people[2]}", headers={**purpose, "X-Request-Id": "stranger-1"}
        )
        verify = client.post(
            "/v1/citizens/verify",
            json={"citizen_id": people[2], "full_name": "Ai Đó", "date_of_birth": "1990-01-01"},
            headers=purpose,
        )
    assert listed.status_code == 200, listed.text
    _problem(stranger, 403, "purpose_mismatch")
    _problem(verify, 403, "purpose_mismatch")
    refused = [e for e in _log(sandbox, people[2]) if e["request_id"] == "stranger-1"]
    assert len(refused) == 1
    assert refused[0]["outcome"] == "refused"
    assert refused[0]["fields"] == []
    assert "message_id" not in refused[0]
    assert refused[0]["dossier_code"] == issue


def test_a_person_added_later_may_then_be_looked_up(sandbox: Sandbox, people: list[str]) -> None:
    """Refused while not listed; once the dossier is updated to list them, served."""
    purpose_code = new_dossier_code()
    body = dossier_body(purpose_code)
    with sandbox.client() as client:
        assert client.put(f"/v1/dossiers/{purpose_code}", json=body).status_code == 201
        headers = {"X-User-Id": OFFICIAL, "X-Issue": purpose_code}
        before = client.get(f"/v1/citizens/{people[2]}", headers=headers)
        body["related_persons"] = [{"citizen_id": people[2], "role": "child"}]
        assert client.put(f"/v1/dossiers/{purpose_code}", json=body).status_code == 200
        after = client.get(f"/v1/citizens/{people[2]}", headers=headers)
        shown = client.get(f"/v1/dossiers/{purpose_code}").json()
    _problem(before, 403, "purpose_mismatch")
    assert after.status_code == 200, after.text
    assert shown["related_persons"] == [{"citizen_id": people[2], "role": "child"}]


def test_a_closed_dossier_beyond_its_grace_justifies_nothing(
    tmp_path: Path, dev_keys: Path
) -> None:
    """With no grace period, a dossier refused (terminal) no longer justifies lookups of its
    own applicant's related persons: 403 purpose_mismatch."""
    with running_sandbox(tmp_path, dev_keys, run_worker=False, purpose_grace_days=0) as box:
        citizen = box.citizens(1)[0]["citizen_id"]
        with box.client() as client:
            code = register_dossier(client, persons=[citizen])
            headers = {"X-User-Id": OFFICIAL, "X-Issue": code}
            open_lookup = client.get(f"/v1/citizens/{citizen}", headers=headers)
            event = {"sequence": 1, "status": 3, "occurred_at": "2026-11-26T09:00:00+07:00"}
            closed = client.post(f"/v1/dossiers/{code}/events", json=event)
            late = client.get(f"/v1/citizens/{citizen}", headers=headers)
    assert open_lookup.status_code == 200, open_lookup.text
    assert closed.status_code == 202, closed.text
    _problem(late, 403, "purpose_mismatch")


# --- item 5: the inputs that once gave 500 ----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("received_at", "0001-01-01T00:00:00+14:00", "date_out_of_range"),
        ("updated_at", "9999-12-31T23:59:59-12:00", "date_out_of_range"),
        ("due_at", "2100-01-01T00:00:00+07:00", "date_out_of_range"),
        ("applicant_name", "Nguyễn\x00Văn An", "control_character"),
        ("applicant_name", "Nguyễn Văn\r\nAn", "control_character"),
        ("applicant_name", "Nguyễn \u202eVăn An", "bidi_control"),
        ("applicant_name", "Nguyễn\u200bVăn An", "zero_width"),
        ("title", "\u200b\u200c \u2060", "zero_width_only"),
        ("procedure_code", "1.00\x00", "control_character"),
        ("sector_code", "TP\u2066HT", "bidi_control"),
    ],
)
def test_unclean_dossier_fields_are_422_naming_the_field(
    sandbox: Sandbox, field: str, value: str, code: str
) -> None:
    """Dates near year 1 or 9999 or past 2099, NUL, CR/LF, U+202E, zero-width in a name, a
    zero-width-only title: 422 with the field named and a stable code, nothing stored."""
    dossier_code = new_dossier_code()
    body = dossier_body(dossier_code)
    body[field] = value
    with sandbox.client() as client:
        response = client.put(f"/v1/dossiers/{dossier_code}", json=body)
        stored = client.get(f"/v1/dossiers/{dossier_code}")
    problem = _problem(response, 422, code)
    assert [e["field"] for e in problem["errors"]] == [f"body.{field}"]
    assert problem["errors"][0]["code"] == code
    assert stored.status_code == 404


def test_decomposed_text_is_stored_composed(sandbox: Sandbox) -> None:
    """A name sent in NFD is stored (and sent on) in NFC."""
    import unicodedata

    code = new_dossier_code()
    body = dossier_body(code)
    body["applicant_name"] = unicodedata.normalize("NFD", "Nguyễn Thị Ánh")
    with sandbox.client() as client:
        assert client.put(f"/v1/dossiers/{code}", json=body).status_code == 201
        stored = client.get(f"/v1/dossiers/{code}").json()
    assert stored["applicant_name"] == unicodedata.normalize("NFC", "Nguyễn Thị Ánh")
    assert stored["applicant_name"] != body["applicant_name"]


def test_a_control_character_in_a_verified_name_is_422(
    sandbox: Sandbox, issue: str, people: list[str]
) -> None:
    """A control character in the name given to verify is refused before any XML is built."""
    body = {"citizen_id": people[0], "full_name": "An\x01", "date_of_birth": "1990-01-01"}
    early = {**body, "full_name": "Nguyễn An", "date_of_birth": "1899-12-31"}
    with sandbox.client() as client:
        headers = {"X-User-Id": OFFICIAL, "X-Issue": issue}
        response = client.post("/v1/citizens/verify", json=body, headers=headers)
        too_early = client.post("/v1/citizens/verify", json=early, headers=headers)
    problem = _problem(response, 422, "control_character")
    assert problem["errors"][0]["field"] == "body.full_name"
    assert _problem(too_early, 422, "date_out_of_range")["errors"][0]["field"] == (
        "body.date_of_birth"
    )


@pytest.mark.parametrize(
    "since", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "1999-12-31T00:00:00Z"]
)
def test_updated_since_outside_the_window_is_422(sandbox: Sandbox, since: str) -> None:
    """``updated_since`` near year 1 or 9999 (or before 2000) is refused, not a 500."""
    with sandbox.client("ministry") as client:
        response = client.get("/v1/dossiers", params={"updated_since": since})
    problem = _problem(response, 422, "date_out_of_range")
    assert problem["errors"][0]["field"] == "query.updated_since"


def test_events_may_not_go_back_in_time(sandbox: Sandbox) -> None:
    """An event before the dossier's receipt: 409 event_before_receipt; before the previous
    event: 409 event_out_of_order; the events in order are accepted."""
    with sandbox.client() as client:
        code = register_dossier(client)
        path = f"/v1/dossiers/{code}/events"
        early = client.post(
            path, json={"sequence": 1, "status": 2, "occurred_at": "2026-11-25T09:00:00+07:00"}
        )
        first = client.post(
            path, json={"sequence": 1, "status": 2, "occurred_at": "2026-11-26T10:00:00+07:00"}
        )
        back = client.post(
            path, json={"sequence": 2, "status": 4, "occurred_at": "2026-11-26T09:59:00+07:00"}
        )
        same = client.post(
            path, json={"sequence": 2, "status": 4, "occurred_at": "2026-11-26T10:00:00+07:00"}
        )
    _problem(early, 409, "event_before_receipt")
    assert first.status_code == 202, first.text
    _problem(back, 409, "event_out_of_order")
    assert same.status_code == 202, same.text


def test_duplicate_json_keys_are_400(sandbox: Sandbox) -> None:
    """A body repeating a key (the last value would win in one parser, the first in another)
    is refused before any route reads it; the same body without the repeat is accepted."""
    code = new_dossier_code()
    body = dossier_body(code)
    text = httpx.Request("PUT", "/", json=body).content.decode()
    repeated = text[:-1] + ', "applicant_id": "001090000456"}'
    response = _send(sandbox, "PUT", f"/v1/dossiers/{code}", body=repeated.encode())
    _problem(response, 400, "duplicate_key")
    assert _send(sandbox, "PUT", f"/v1/dossiers/{code}", body=text.encode()).status_code == 201


def test_an_encoded_slash_in_a_path_parameter_is_400(sandbox: Sandbox, issue: str) -> None:
    """``%2F`` in a path parameter is refused, not routed elsewhere."""
    response = _send(sandbox, "GET", f"/v1/dossiers/{issue}%2Fhistory")
    _problem(response, 400, "encoded_slash")


def test_a_watch_purpose_with_nul_is_422(sandbox: Sandbox, people: list[str]) -> None:
    """NUL in a watch purpose never reaches the store (PostgreSQL refuses NUL in text)."""
    with sandbox.client() as client:
        response = client.put(
            f"/v1/watch/citizen/{people[0]}",
            json={"purpose": "x\x00y"},
            headers={"X-User-Id": OFFICIAL},
        )
    assert _problem(response, 422, "control_character")["errors"][0]["field"] == "body.purpose"


def test_dates_in_the_window_still_pass(sandbox: Sandbox) -> None:
    """The window's edges: a dossier received 2000-01-01 00:00 Vietnam time is accepted."""
    code = new_dossier_code(dt.date(2000, 1, 1))
    body = dossier_body(code)
    body["received_at"] = body["updated_at"] = "2000-01-01T00:00:00+07:00"
    with sandbox.client() as client:
        response = client.put(f"/v1/dossiers/{code}", json=body)
    assert response.status_code == 201, response.text


# --- the README's curl helper -----------------------------------------------------------------

_SCRIPT = Path(__file__).resolve().parents[2] / "mock_endpoints" / "examples" / "sign-headers.sh"


def _sign_headers(sandbox: Sandbox, *args: str, keys: Path | None = None) -> Any:
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "TARGET": sandbox.base_url,
        "SIGN_AS": "province-app",
        "KEYS": str(keys or sandbox.keys_dir),
    }
    quoted = " ".join(shlex.quote(arg) for arg in args)
    return subprocess.run(
        ["bash", "-c", f". {shlex.quote(str(_SCRIPT))} && sign_headers {quoted}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sign_headers_covers_the_purpose_headers(
    sandbox: Sandbox, issue: str, people: list[str]
) -> None:
    """``sign_headers`` with X-User-Id and X-Issue as extra headers: curl-style headers the
    adapter accepts for a lookup (the purpose headers signed with the rest)."""
    path = f"/v1/citizens/{people[0]}"
    done = _sign_headers(
        sandbox, "GET", path, "/dev/null", "", f"X-User-Id: {OFFICIAL}", f"X-Issue: {issue}"
    )
    assert done.returncode == 0, done.stderr
    headers = [tuple(line.split(": ", 1)) for line in done.stdout.splitlines()]
    assert ("X-Issue", issue) in headers
    assert '"x-issue"' in dict(headers)["Signature-Input"]
    with httpx.Client(timeout=30) as client:
        response = client.get(sandbox.base_url + path, headers=headers)
    assert response.status_code == 200, response.text


def test_sign_headers_fails_loudly(sandbox: Sandbox, tmp_path: Path) -> None:
    """No key for the party: a non-zero status, a reason on stderr, nothing on stdout."""
    done = _sign_headers(sandbox, "GET", "/v1/services", "/dev/null", keys=tmp_path)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "no key for province-app" in done.stderr
