"""Timeliness over real HTTP: the dossier view's class, the report (a ministry sees its sectors
only, bad input is problem+json), and an apology confirmed and printed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas.times import VN_TZ
from store.db import create_engine, create_sessionmaker
from tests.e2e.api_harness import Sandbox, dossier_body, new_dossier_code, running_sandbox
from timeliness.service import Timeliness


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """The adapter + mocks on SQLite (procedure deadlines fetched from the portal mock)."""
    with running_sandbox(tmp_path_factory.mktemp("api_timeliness"), dev_keys) as running:
        yield running


def test_dossier_view_and_report(sandbox: Sandbox) -> None:
    """A dossier received 26 Nov for a one-day procedure is due 27 Nov 17:00 and, today, open
    and overdue; the report counts it; a ministry's report has only its sectors."""
    with sandbox.client() as client:
        code = new_dossier_code()
        assert client.put(f"/v1/dossiers/{code}", json=dossier_body(code)).status_code == 201
        other = new_dossier_code()
        body = dossier_body(other, sector="XD.HDXD", procedure="1.009972")
        assert client.put(f"/v1/dossiers/{other}", json=body).status_code == 201
        view = client.get(f"/v1/dossiers/{code}").json()
        history = client.get(f"/v1/dossiers/{code}/history").json()
        report = client.get(
            "/v1/reports/timeliness",
            params={"from": "2026-11-26", "to": "2026-11-26", "group_by": "sector"},
        )
    assert view["due_at"] == "2026-11-27T17:00:00+07:00"
    assert view["timeliness"]["state"] == "overdue"
    assert history["timeliness"]["state"] == "overdue"
    assert report.status_code == 200
    rows = {row["key"]: row for row in report.json()["rows"]}
    assert rows["TP.HT"]["open_overdue"] >= 1
    assert "XD.HDXD" in rows
    with sandbox.client("ministry") as ministry:
        theirs = ministry.get(
            "/v1/reports/timeliness",
            params={"from": "2026-11-26", "to": "2026-11-26", "group_by": "sector"},
        )
    assert theirs.status_code == 200
    assert "XD.HDXD" not in {row["key"] for row in theirs.json()["rows"]}


@pytest.mark.parametrize(
    "params",
    [
        {"to": "2026-11-30"},
        {"from": "2026-11-30", "to": "2026-11-01"},
        {"from": "2026-11-01", "to": "2026-11-30", "group_by": "district"},
        {"from": "yesterday", "to": "2026-11-30"},
    ],
)
def test_bad_report_input_is_problem_json(sandbox: Sandbox, params: dict[str, str]) -> None:
    """Missing, reversed or malformed parameters: 400 problem+json, stable code, the field."""
    with sandbox.client() as client:
        response = client.get("/v1/reports/timeliness", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_report_query"


def test_apology_confirmed_moves_the_due_date_to_the_portal(sandbox: Sandbox) -> None:
    """An overdue dossier's draft is listed, confirmed (the view's due date moves), reaches the
    portal as NgayHenTra, and prints as a PDF; confirming again is 409."""
    with sandbox.client() as client:
        code = new_dossier_code()
        assert client.put(f"/v1/dossiers/{code}", json=dossier_body(code)).status_code == 201

    async def draft() -> None:
        engine = create_engine(sandbox.settings.resolved_database_url)
        try:
            await Timeliness.build().draft_apologies(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    asyncio.run(draft())
    with sandbox.client() as client:
        (apology,) = client.get(f"/v1/dossiers/{code}/apologies").json()["items"]
        assert apology["state"] == "draft"
        confirmed = client.post(f"/v1/dossiers/{code}/apologies/{apology['id']}/confirm")
        again = client.post(f"/v1/dossiers/{code}/apologies/{apology['id']}/confirm")
        view = client.get(f"/v1/dossiers/{code}").json()
        pdf = client.get(f"/v1/dossiers/{code}/apologies/{apology['id']}/pdf")
    assert confirmed.status_code == 200, confirmed.text
    assert again.status_code == 409
    new_due = confirmed.json()["proposed_due_at"]
    assert view["due_at"] == new_due
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    from datetime import datetime

    wire = datetime.fromisoformat(new_due).astimezone(VN_TZ).strftime("%Y%m%d%H%M%S")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = httpx.get(f"{sandbox.mock_url}/_admin/portal/dossiers/{code}", timeout=10)
        held = response.text if response.status_code == 200 else ""
        if wire in held:
            break
        time.sleep(0.2)
    assert wire in held
