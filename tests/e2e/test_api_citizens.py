"""Citizens through the adapter over HTTP: purpose binding, minimisation, access log, faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter_api.clients import CITIZEN_FIELDS
from tests.e2e.api_harness import (
    OFFICIAL,
    Sandbox,
    new_dossier_code,
    register_dossier,
    running_sandbox,
)

CLIENTS_TOML = """
[[clients]]
id = "province-app"
role = "province"
certificate = "{keys}/province-app/cert.pem"

[[clients]]
id = "ministry"
role = "ministry"
certificate = "{keys}/ministry/cert.pem"
sectors = ["TP.HT"]

[[clients]]
id = "integrator"
role = "integrator"
certificate = "{keys}/integrator/cert.pem"
operations = ["citizens.read", "citizens.verify", "businesses.read", "services.read"]
citizen_fields = ["citizen_id", "full_name"]
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """One adapter + mocks for this module (clients from a file; short upstream timeouts)."""
    root = tmp_path_factory.mktemp("api_citizens")
    clients = root / "clients.toml"
    clients.write_text(CLIENTS_TOML.format(keys=dev_keys), encoding="utf-8")
    with running_sandbox(
        root,
        dev_keys,
        clients_file=clients,
        upstream_attempt_timeout=0.5,
        upstream_deadline=1.5,
        upstream_attempts=2,
        breaker_failure_threshold=3,
        breaker_reset_seconds=30,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def issue(sandbox: Sandbox, citizen: dict[str, Any]) -> str:
    """A dossier registered by the province (the purpose of the lookups), listing the citizen
    looked up and the unknown one of the 404 test."""
    with sandbox.client("province-app") as client:
        return register_dossier(client, persons=[citizen["citizen_id"], UNKNOWN_CITIZEN])


@pytest.fixture(scope="module")
def citizen(sandbox: Sandbox) -> dict[str, Any]:
    """A citizen the population mock knows."""
    return sandbox.citizens(1)[0]


#: a valid CCCD the population mock does not know
UNKNOWN_CITIZEN = "001099999999"


def _purpose(issue: str) -> dict[str, str]:
    return {"X-User-Id": OFFICIAL, "X-Issue": issue}


def test_lookup_returns_the_canonical_citizen(
    sandbox: Sandbox, issue: str, citizen: dict[str, Any]
) -> None:
    """A province lookup with a purpose gets the citizen as canonical JSON, signed."""
    with sandbox.client("province-app") as client:
        response = client.get(f"/v1/citizens/{citizen['citizen_id']}", headers=_purpose(issue))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["citizen_id"] == citizen["citizen_id"]
    assert body["full_name"] == citizen["full_name"]
    assert body["date_of_birth"] == citizen["date_of_birth"]
    assert set(body) <= set(CITIZEN_FIELDS)
    assert response.headers["content-type"] == "application/json"
    assert "signature" in response.headers


def test_lookup_is_access_logged_with_request_and_message_id(
    sandbox: Sandbox, issue: str, citizen: dict[str, Any]
) -> None:
    """The lookup appears in the access log with the official, dossier and request id."""
    request_id = "trace-citizen-1"
    cid = citizen["citizen_id"]
    with sandbox.client("province-app") as client:
        looked = client.get(
            f"/v1/citizens/{cid}", headers={**_purpose(issue), "X-Request-Id": request_id}
        )
        assert looked.status_code == 200
        assert looked.headers["x-request-id"] == request_id
        log = client.get(f"/v1/access-log/{cid}")
    assert log.status_code == 200, log.text
    entry = next(e for e in log.json()["entries"] if e["request_id"] == request_id)
    assert entry["client_id"] == "province-app"
    assert entry["official"] == OFFICIAL
    assert entry["dossier_code"] == issue
    assert entry["operation"] == "GetCitizen"
    assert "full_name" in entry["fields"]
    assert entry["message_id"]


def test_fields_are_minimised_per_client(
    sandbox: Sandbox, issue: str, citizen: dict[str, Any]
) -> None:
    """A client allowed fewer citizen fields gets only those, and the log says which."""
    cid = citizen["citizen_id"]
    with sandbox.client("integrator") as client:
        response = client.get(
            f"/v1/citizens/{cid}", headers={**_purpose(issue), "X-Request-Id": "narrow-1"}
        )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"citizen_id", "full_name"}
    with sandbox.client("province-app") as client:
        log = client.get(f"/v1/access-log/{cid}").json()
    entry = next(e for e in log["entries"] if e["request_id"] == "narrow-1")
    assert entry["fields"] == ["citizen_id", "full_name"]


def test_lookup_for_another_sectors_dossier_is_refused(
    sandbox: Sandbox, citizen: dict[str, Any]
) -> None:
    """A client limited to sectors cannot use a dossier outside them as its purpose."""
    with sandbox.client("province-app") as client:
        other = register_dossier(client, sector="YT.KCB")
    registry = sandbox.container.clients
    ministry = registry.get("ministry")
    assert ministry is not None
    assert not ministry.sees_sector("YT.KCB")
    # the ministry may not read citizens at all: 403 before the purpose is looked at
    with sandbox.client("ministry") as client:
        response = client.get(f"/v1/citizens/{citizen['citizen_id']}", headers=_purpose(other))
    assert response.status_code == 403


@pytest.mark.parametrize("missing", ["X-User-Id", "X-Issue"])
def test_lookup_without_purpose_is_refused(
    sandbox: Sandbox, issue: str, citizen: dict[str, Any], missing: str
) -> None:
    """Without the official or the dossier, the lookup is a 422 naming the missing header."""
    headers = _purpose(issue)
    del headers[missing]
    with sandbox.client("province-app") as client:
        response = client.get(f"/v1/citizens/{citizen['citizen_id']}", headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert [e["field"] for e in problem["errors"]] == [f"header.{missing}"]


def test_lookup_for_an_unregistered_dossier_is_refused(
    sandbox: Sandbox, citizen: dict[str, Any]
) -> None:
    """X-Issue must name a dossier that exists: a well-formed unknown code is refused (422)."""
    with sandbox.client("province-app") as client:
        response = client.get(
            f"/v1/citizens/{citizen['citizen_id']}", headers=_purpose(new_dossier_code())
        )
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_issue"
    assert response.json()["errors"][0]["field"] == "header.X-Issue"


def test_malformed_official_is_refused(
    sandbox: Sandbox, issue: str, citizen: dict[str, Any]
) -> None:
    """X-User-Id must be VN + a valid CCCD."""
    with sandbox.client("province-app") as client:
        response = client.get(
            f"/v1/citizens/{citizen['citizen_id']}",
            headers={"X-User-Id": "someone", "X-Issue": issue},
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "header.X-User-Id"


def test_invalid_citizen_id_names_the_path_field(sandbox: Sandbox, issue: str) -> None:
    """A malformed CCCD is a 422 on ``path.citizen_id`` and never reaches the database."""
    with sandbox.client("province-app") as client:
        response = client.get("/v1/citizens/12345", headers=_purpose(issue))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "path.citizen_id"


@pytest.mark.parametrize(
    ("path_id", "official", "field"),
    [
        ("999190000007", OFFICIAL, "path.citizen_id"),  # 12 digits, no such region
        (None, "VN999190000007", "header.X-User-Id"),
    ],
)
def test_ids_of_the_right_shape_but_invalid_are_refused(
    sandbox: Sandbox,
    issue: str,
    citizen: dict[str, Any],
    path_id: str | None,
    official: str,
    field: str,
) -> None:
    """Inputs that fit the pattern but break the CCCD rules are refused like malformed ones
    (the fast path of valid lookups hands them to the declared parameters' checks)."""
    with sandbox.client("province-app") as client:
        response = client.get(
            f"/v1/citizens/{path_id or citizen['citizen_id']}",
            headers={"X-User-Id": official, "X-Issue": issue},
        )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_unknown_citizen_is_404_and_logged(sandbox: Sandbox, issue: str) -> None:
    """A citizen the database does not know is 404 citizen_not_found; the attempt is logged."""
    unknown = UNKNOWN_CITIZEN
    with sandbox.client("province-app") as client:
        response = client.get(f"/v1/citizens/{unknown}", headers=_purpose(issue))
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "citizen_not_found"
        log = client.get(f"/v1/access-log/{unknown}").json()
    assert log["entries"][0]["fields"] == []


def test_ministry_may_not_look_citizens_up(
    sandbox: Sandbox, issue: str, citizen: dict[str, Any]
) -> None:
    """A ministry's allow-list has no citizens.read: 403 operation_not_allowed."""
    with sandbox.client("ministry") as client:
        response = client.get(f"/v1/citizens/{citizen['citizen_id']}", headers=_purpose(issue))
    assert response.status_code == 403
    assert response.json()["code"] == "operation_not_allowed"


def test_verify_says_yes_or_no_only(sandbox: Sandbox, issue: str, citizen: dict[str, Any]) -> None:
    """Verify answers true for the right name and birth date, false otherwise, nothing else."""
    body = {
        "citizen_id": citizen["citizen_id"],
        "full_name": citizen["full_name"],
        "date_of_birth": citizen["date_of_birth"],
    }
    with sandbox.client("province-app") as client:
        yes = client.post("/v1/citizens/verify", json=body, headers=_purpose(issue))
        no = client.post(
            "/v1/citizens/verify",
            json={**body, "full_name": "Ai Đó Khác"},
            headers=_purpose(issue),
        )
    assert (yes.status_code, yes.json()) == (200, {"match": True})
    assert (no.status_code, no.json()) == (200, {"match": False})


def test_verify_validation_names_body_fields(sandbox: Sandbox, issue: str) -> None:
    """A bad verify body is a 422 listing each bad field under ``body.``."""
    with sandbox.client("province-app") as client:
        response = client.post(
            "/v1/citizens/verify",
            json={"citizen_id": "12", "full_name": "", "extra": 1},
            headers=_purpose(issue),
        )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"body.citizen_id", "body.full_name", "body.date_of_birth", "body.extra"} <= fields


def test_upstream_timeout_is_504_naming_the_upstream(
    sandbox: Sandbox, issue: str, citizen: dict[str, Any]
) -> None:
    """A population database slower than the deadline answers 504 upstream_timeout."""
    sandbox.set_faults("population", latency_ms=1500)
    try:
        with sandbox.client("province-app") as client:
            response = client.get(f"/v1/citizens/{citizen['citizen_id']}", headers=_purpose(issue))
    finally:
        sandbox.clear_faults()
    assert response.status_code == 504, response.text
    problem = response.json()
    assert (problem["code"], problem["upstream"]) == ("upstream_timeout", "population")


def test_outage_is_503_then_the_breaker_opens(sandbox: Sandbox) -> None:
    """An upstream outage answers 503 upstream_unavailable, then circuit_open with Retry-After."""
    business = sandbox.businesses(1)[0]
    sandbox.set_faults("registry", outage=True)
    codes = []
    try:
        with sandbox.client("province-app") as client:
            for _ in range(4):
                response = client.get(f"/v1/businesses/{business['tax_code']}")
                assert response.status_code == 503, response.text
                assert response.json()["upstream"] == "registry"
                codes.append(response.json()["code"])
                last = response
    finally:
        sandbox.clear_faults()
    assert codes[0] == "upstream_unavailable"
    assert codes[-1] == "circuit_open"
    assert last.headers["retry-after"].isdigit()
    with sandbox.client("integrator") as client:
        services = client.get("/v1/services").json()["services"]
    registry = next(s for s in services if s["name"] == "registry")
    assert registry["health"]["state"] == "open"
