"""The access log end to end: the sandbox adapter (real app, signature middleware, connectors,
mock national endpoints, SQLite store) served over HTTP on loopback, called with signed requests.

Lookups that reach the population database appear in ``GET /v1/access-log/{citizen_id}``,
newest first, paginated, with who, organisation, official, dossier, fields and the upstream
message id (which is in the message log); refused lookups leave nothing; only clients granted
``access_log.read`` may read it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import store.tables  # noqa: F401 - registers every table on the metadata
from adapter_api.app import create_app
from lienthong.bootstrap import build_container
from lienthong.settings import Settings
from schemas.models import Dossier
from schemas.status import DossierStatus
from schemas.times import VN_TZ
from security.http_signatures import HttpSigner
from security.httpx_auth import HttpSignatureAuth
from security.keys import load_party
from security.pki import init_dev_pki
from store.db import create_engine
from store.dossiers import record_dossier
from store.message_log.records import records_for_message
from store.metadata import metadata
from tests.support.servers import free_port, serve_app

DOSSIER = "000.00.04.H04-261126-0001"
OFFICIAL = "VN001085000123"


@dataclass
class Sandbox:
    base: str
    mock: str
    keys: Path
    data: Path

    def client(self, party: str | None) -> httpx.Client:
        auth = HttpSignatureAuth(HttpSigner(load_party(self.keys, party))) if party else None
        return httpx.Client(base_url=self.base, auth=auth, timeout=20)

    def lookup(self, party: str | None, citizen_id: str, **headers: str) -> httpx.Response:
        sent = {"X-User-Id": OFFICIAL, "X-Issue": DOSSIER, **headers}
        with self.client(party) as http:
            return http.get(f"/v1/citizens/{citizen_id}", headers=sent)

    def access_log(self, party: str, citizen_id: str, **params: Any) -> httpx.Response:
        with self.client(party) as http:
            return http.get(f"/v1/access-log/{citizen_id}", params=params)


async def _prepare_store(data: Path) -> None:
    engine = create_engine(data)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with engine.begin() as conn, AsyncSession(bind=conn) as session:
        await record_dossier(
            session,
            Dossier(
                code=DOSSIER,
                procedure_code="1.001",
                agency_code="000.00.04.H04",
                sector_code="TP.HT",
                applicant_name="Nguyễn Văn A",
                applicant_id="001085000001",
                status=DossierStatus.SUBMITTED,
                received_at=dt.datetime(2026, 11, 26, 8, 0, tzinfo=VN_TZ),
                updated_at=dt.datetime(2026, 11, 26, 8, 0, tzinfo=VN_TZ),
                title="Đăng ký khai sinh",
            ),
        )
        await session.flush()
    await engine.dispose()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    folder = tmp_path_factory.mktemp("sandbox")
    keys, data = folder / "keys", folder / "data"
    init_dev_pki(keys)
    data.mkdir()
    asyncio.run(_prepare_store(data))
    mock_port = free_port()
    settings = Settings(
        keys_dir=keys,
        data_dir=data,
        mock_port=mock_port,
        run_worker=False,
        migrate_on_start=False,
    )
    app = create_app(build_container(settings))
    with serve_app(app) as base:
        yield Sandbox(base, f"http://127.0.0.1:{mock_port}", keys, data)


@pytest.fixture(scope="module")
def citizens(sandbox: Sandbox) -> list[str]:
    answer = httpx.get(f"{sandbox.mock}/_admin/population/citizens", params={"limit": 3})
    return [c["citizen_id"] for c in answer.json()["citizens"]]


def test_lookups_are_logged_newest_first_with_who_and_what(
    sandbox: Sandbox, citizens: list[str]
) -> None:
    """Two lookups of one citizen: two entries, newest first, naming client, organisation,
    official, dossier and the fields returned; a lookup of another citizen is not among them."""
    first, other = citizens[0], citizens[1]
    assert sandbox.lookup("province-app", first).status_code == 200
    assert sandbox.lookup("province-app", other).status_code == 200
    second = sandbox.lookup("province-app", first)
    assert second.status_code == 200

    answer = sandbox.access_log("province-app", first)
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["citizen_id"] == first
    entries = page["entries"]
    assert len(entries) == 2
    assert entries[0]["occurred_at"] >= entries[1]["occurred_at"]
    assert entries[0]["request_id"] == second.headers["X-Request-Id"]
    for entry in entries:
        assert entry["client_id"] == "province-app"
        assert entry["organisation"]
        assert entry["official"] == OFFICIAL
        assert entry["dossier_code"] == DOSSIER
        assert entry["operation"] == "GetCitizen"
        assert "full_name" in entry["fields"]
        assert entry["message_id"]
    assert "next_cursor" not in page


def test_the_logged_lookup_is_in_the_message_log(sandbox: Sandbox, citizens: list[str]) -> None:
    """The access-log entry's message id names the signed exchange kept in the message log."""
    assert sandbox.lookup("province-app", citizens[2]).status_code == 200
    (entry,) = sandbox.access_log("province-app", citizens[2]).json()["entries"]

    async def records() -> list[Any]:
        engine = create_engine(sandbox.data)
        try:
            async with engine.connect() as conn:
                return await records_for_message(conn, entry["message_id"])
        finally:
            await engine.dispose()

    (record,) = asyncio.run(records())
    assert (record.sealed.issue, record.sealed.user_id) == (DOSSIER, OFFICIAL)
    assert record.sealed.outcome == "ok"


def test_refused_lookups_leave_no_entry(sandbox: Sandbox, citizens: list[str]) -> None:
    """Unsigned, not allowed, without a dossier, or for an unknown dossier: refused, not logged."""
    target = citizens[2]
    before = len(sandbox.access_log("province-app", target).json()["entries"])
    refusals = [
        sandbox.lookup(None, target),
        sandbox.lookup("integrator", target),
        sandbox.lookup("province-app", target, **{"X-Issue": "000.00.04.H04-261126-9999"}),
        sandbox.lookup("province-app", target, **{"X-User-Id": "nobody"}),
    ]
    assert [r.status_code for r in refusals] == [401, 403, 422, 422]
    after = len(sandbox.access_log("province-app", target).json()["entries"])
    assert after == before


def test_pages_follow_the_cursor(sandbox: Sandbox, citizens: list[str]) -> None:
    """``limit=1`` pages through the entries with ``next_cursor``; a foreign cursor is 400."""
    target = citizens[0]
    sandbox.lookup("province-app", target)
    all_ids = [
        e["request_id"] for e in sandbox.access_log("province-app", target).json()["entries"]
    ]
    assert len(all_ids) >= 3
    seen, cursor = [], None
    for _ in range(len(all_ids) + 1):
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = sandbox.access_log("province-app", target, **params).json()
        seen += [e["request_id"] for e in page["entries"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    assert seen == all_ids
    bad = sandbox.access_log("province-app", target, cursor="not-ours")
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_cursor"


def test_only_clients_granted_the_access_log_may_read_it(
    sandbox: Sandbox, citizens: list[str]
) -> None:
    """The ministry and the integrator are not granted ``access_log.read``: 403, no entries."""
    for party in ("ministry", "integrator"):
        answer = sandbox.access_log(party, citizens[0])
        assert answer.status_code == 403
        assert answer.json()["code"] == "operation_not_allowed"
    with sandbox.client(None) as http:
        assert http.get(f"/v1/access-log/{citizens[0]}").status_code == 401
