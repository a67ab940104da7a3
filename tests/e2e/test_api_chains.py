"""``/v1/chains`` over real HTTP: the adapter (its chain and sync workers running inside it) and
the mock agency systems and portal, everything signed."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.times import VN_TZ
from tests.e2e.api_harness import AGENCY, Sandbox, running_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("chains_api")
    with running_sandbox(
        root, dev_keys, chain_poll_seconds=0.2, refresh_interval_seconds=0
    ) as running:
        yield running


def _body(sandbox: Sandbox, received: dt.datetime, **changes: Any) -> dict[str, Any]:
    mother = sandbox.citizens(3)[0]["citizen_id"]
    body = {
        "chain": "birth-residence-card",
        "agency_code": AGENCY,
        "applicant_name": "Người Nộp Thử",
        "applicant_id": mother,
        "received_at": received.isoformat(),
        "subject": {
            "child_full_name": "Lê Văn Bé",
            "child_date_of_birth": "2026-12-01",
            "child_sex": "male",
            "mother_id": mother,
            "address": "Số 3 Đường Thử, Hà Nội",
        },
    }
    body.update(changes)
    return body


def _code(received: dt.datetime, serial: int) -> str:
    return f"{AGENCY}-{received.strftime('%y%m%d')}-{serial:04d}"


def _wait_for(client: httpx.Client, code: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        view: dict[str, Any] = client.get(f"/v1/chains/{code}").json()
        if view.get("state") == state or time.monotonic() > deadline:
            return view
        time.sleep(0.1)


def test_a_chain_taken_in_once_runs_to_the_end(sandbox: Sandbox) -> None:
    """PUT takes the chain in (201; the same filing again 200, another one 409); the workers
    inside the adapter take it through the three agencies and the portal sees it processed."""
    received = dt.datetime.now(VN_TZ).replace(microsecond=0)
    code = _code(received, 9101)
    body = _body(sandbox, received)
    with sandbox.client() as client:
        first = client.put(f"/v1/chains/{code}", json=body)
        assert first.status_code == 201, first.text
        assert client.put(f"/v1/chains/{code}", json=body).status_code == 200
        other = client.put(f"/v1/chains/{code}", json={**body, "applicant_name": "Khác"})
        assert other.status_code == 409
        assert other.json()["code"] == "chain_conflict"
        view = _wait_for(client, code, "completed")
    assert view["state"] == "completed", view
    assert [s["state"] for s in view["steps"]] == ["done", "done", "done"]
    assert all(s["result_reference"] for s in view["steps"])
    assert view["steps"][1]["due_at"] is not None
    assert "result" not in view["steps"][0]  # the PIN itself is never shown
    requests = sandbox.admin("GET", "/_admin/agencies/residence/requests").json()["requests"]
    assert [r["reference"] for r in requests].count(f"{code}_residence") == 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        held = httpx.get(f"{sandbox.mock_url}/_admin/portal/dossiers/{code}", timeout=10)
        if held.status_code == 200 and held.json()["status"] == 9:
            break
        time.sleep(0.2)
    assert held.status_code == 200
    assert held.json()["status"] == 9


def test_a_ministry_sees_the_steps_of_its_sectors_only(sandbox: Sandbox) -> None:
    """The sandbox ministry (Ministry of Justice sectors) sees the birth step, not the
    residence or card steps."""
    received = dt.datetime.now(VN_TZ).replace(microsecond=0)
    code = _code(received, 9102)
    with sandbox.client() as client:
        assert client.put(f"/v1/chains/{code}", json=_body(sandbox, received)).status_code == 201
    with sandbox.client("ministry") as ministry:
        view = ministry.get(f"/v1/chains/{code}")
        assert view.status_code == 200, view.text
        assert [s["name"] for s in view.json()["steps"]] == ["birth"]
        put = ministry.put(f"/v1/chains/{code}", json=_body(sandbox, received))
        assert put.status_code == 403


def test_bad_filings_are_clear_problems(sandbox: Sandbox) -> None:
    """An unknown chain is 404, a missing subject field 422 naming it, never a 5xx."""
    received = dt.datetime.now(VN_TZ).replace(microsecond=0)
    code = _code(received, 9103)
    with sandbox.client() as client:
        unknown = client.put(f"/v1/chains/{code}", json=_body(sandbox, received, chain="nope"))
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "chain_unknown"
        body = _body(sandbox, received)
        del body["subject"]["mother_id"]
        missing = client.put(f"/v1/chains/{code}", json=body)
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == "body.subject.mother_id"
        wrong_day = client.put(
            f"/v1/chains/{_code(received - dt.timedelta(days=3), 9104)}",
            json=_body(sandbox, received),
        )
        assert wrong_day.status_code == 422
        assert client.get(f"/v1/chains/{_code(received, 9999)}").status_code == 404
