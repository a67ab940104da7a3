"""``/v1/watch`` and ``/v1/changes`` routes on a real store, behind a stand-in for the signature
middleware (the caller's keyid comes from a test header), so that purpose rules, minimisation,
access logging and paging are checked on their own."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapter_api.clients import ClientRegistry, Role, make_client
from adapter_api.handlers import install_handlers
from adapter_api.routes import changes, watch
from schemas.citizen_id import Sex, make_citizen_id
from schemas.models import Dossier
from schemas.status import DossierStatus
from schemas.tax_code import make_tax_code
from schemas.times import VN_TZ
from store.access_log import list_for_citizen
from store.access_log_book import AccessLogBook
from store.access_log_keys import KeyRing
from store.dossiers import record_dossier
from store.errors import StoreError
from store.sessions import SessionRunner
from store.watches.change_reads import ChangeReads
from store.watches.types import WatchKind
from tests.support.records import sqlite_sessions
from watches.desk import WatchDesk
from watches.observations import Observation, apply_observation
from watches.purposes import ClientWatchPolicy

KEY = b"k" * 32
CITIZEN = make_citizen_id("001", 1985, Sex.MALE, 1)
OTHER_CITIZEN = make_citizen_id("079", 1990, Sex.FEMALE, 2)
TAX = make_tax_code("010010910")
DOSSIER = "000.00.04.H04-261126-0001"
OFFICIAL = "VN" + make_citizen_id("001", 1980, Sex.MALE, 9)


@dataclass
class _Container:
    clients: ClientRegistry
    watch_desk: WatchDesk
    change_reads: ChangeReads
    access_log_book: AccessLogBook
    rate_limiter: None = None


def _registry() -> ClientRegistry:
    def key() -> Any:
        return ec.generate_private_key(ec.SECP256R1()).public_key()

    return ClientRegistry(
        [
            make_client("province-app", Role.PROVINCE, public_key=key()),
            make_client(
                "limited",
                Role.PROVINCE,
                public_key=key(),
                citizen_fields=["citizen_id", "full_name"],
                standing_purposes=["bhxh-dong-bo"],
            ),
            make_client("ministry", Role.MINISTRY, public_key=key(), sectors=["tu-phap"]),
            make_client("integrator", Role.INTEGRATOR, public_key=key()),
        ]
    )


class _CallerFromHeader:
    """Stands in for the signature middleware: ``X-Test-Client`` is the verified keyid."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-test-client":
                    scope.setdefault("state", {})["client_id"] = value.decode()
        await self.app(scope, receive, send)


@dataclass
class Api:
    http: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]

    async def call(self, method: str, path: str, client: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Test-Client": client, "X-User-Id": OFFICIAL, **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def observe(self, kind: WatchKind, record_id: str, record: dict[str, Any] | None) -> None:
        async with self.sessions.begin() as session:
            await apply_observation(
                session, kind, record_id, Observation(record), observed_at=dt.datetime.now(dt.UTC)
            )

    async def access_log(self, citizen_id: str) -> list[Any]:
        async with self.sessions() as session:
            page = await list_for_citizen(session, citizen_id, key=KEY)
        return list(page.items)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with sqlite_sessions(tmp_path) as sessions:
        engine = sessions.kw["bind"]
        app = FastAPI()
        clients = _registry()
        app.state.container = _Container(
            clients,
            WatchDesk(SessionRunner(engine), ClientWatchPolicy(clients)),
            ChangeReads(engine),
            AccessLogBook(engine, KeyRing(KEY)),
        )
        app.include_router(watch.router)
        app.include_router(changes.router)
        install_handlers(app, StoreError)
        async with sessions.begin() as session:
            await record_dossier(
                session,
                Dossier(
                    code=DOSSIER,
                    procedure_code="1.001",
                    agency_code="000.00.04.H04",
                    sector_code="tu-phap",
                    applicant_name="Nguyễn Văn A",
                    applicant_id=CITIZEN,
                    status=DossierStatus.SUBMITTED,
                    received_at=dt.datetime(2026, 11, 26, 8, 0, tzinfo=VN_TZ),
                    updated_at=dt.datetime(2026, 11, 26, 8, 0, tzinfo=VN_TZ),
                    title="Đăng ký khai sinh",
                ),
            )
        transport = httpx.ASGITransport(app=_CallerFromHeader(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Api(http, sessions)


async def test_watching_a_business_is_idempotent_and_can_be_undone(api: Api) -> None:
    """PUT makes a watch (201, then 200), GET lists it, DELETE removes it (204, then 404)."""
    first = await api.call("PUT", f"/v1/watch/business/{TAX}", "province-app")
    again = await api.call("PUT", f"/v1/watch/business/{TAX}", "province-app", json={})
    listed = await api.call("GET", "/v1/watch", "province-app")
    others = await api.call("GET", "/v1/watch", "limited")
    removed = await api.call("DELETE", f"/v1/watch/business/{TAX}", "province-app")
    gone = await api.call("DELETE", f"/v1/watch/business/{TAX}", "province-app")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["kind"] == "business"
    assert [w["id"] for w in listed.json()["watches"]] == [TAX]
    assert others.json()["watches"] == []
    assert (removed.status_code, gone.status_code) == (204, 404)
    assert gone.json()["code"] == "watch_not_found"


async def test_a_citizen_watch_needs_a_granted_purpose(api: Api) -> None:
    """No purpose: 422; an unknown dossier: 403; a registered dossier or standing purpose: 201."""
    path = f"/v1/watch/citizen/{CITIZEN}"
    missing = await api.call("PUT", path, "province-app")
    unknown = await api.call(
        "PUT", path, "province-app", json={"purpose": "000.00.04.H04-261126-0099"}
    )
    not_granted = await api.call("PUT", path, "province-app", json={"purpose": "bhxh-dong-bo"})
    by_dossier = await api.call("PUT", path, "province-app", json={"purpose": DOSSIER})
    standing = await api.call("PUT", path, "limited", json={"purpose": "bhxh-dong-bo"})
    no_official = await api.http.put(
        path, headers={"X-Test-Client": "province-app"}, json={"purpose": DOSSIER}
    )
    assert (missing.status_code, missing.json()["code"]) == (422, "missing_purpose")
    assert (no_official.status_code, no_official.json()["code"]) == (422, "missing_official")
    assert (unknown.status_code, unknown.json()["code"]) == (403, "purpose_not_granted")
    assert not_granted.status_code == 403
    assert (by_dossier.status_code, by_dossier.json()["purpose"]) == (201, DOSSIER)
    assert standing.status_code == 201


async def test_a_dossier_justifies_watching_only_the_citizens_it_names(api: Api) -> None:
    """A registered dossier is a purpose for its applicant (and related persons) only: watching
    another citizen under it is 403 purpose_mismatch, and nothing is stored."""
    stranger = "001090000456"
    refused = await api.call(
        "PUT", f"/v1/watch/citizen/{stranger}", "province-app", json={"purpose": DOSSIER}
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "purpose_mismatch")
    listed = await api.call("GET", "/v1/watch", "province-app")
    assert all(w["id"] != stranger for w in listed.json()["watches"])


async def test_malformed_watches_are_refused(api: Api) -> None:
    """A bad CCCD, a bad tax code's check digit, an unknown kind: 422; no allow-list: 403."""
    bad_id = await api.call("PUT", "/v1/watch/citizen/001085000000", "province-app")
    bad_tax = await api.call("PUT", f"/v1/watch/business/{TAX[:-1]}0", "province-app")
    bad_kind = await api.call("PUT", f"/v1/watch/planet/{TAX}", "province-app")
    not_allowed = await api.call("PUT", f"/v1/watch/business/{TAX}", "integrator")
    assert bad_id.status_code == 422
    assert bad_tax.json()["code"] == "invalid_tax_code"
    assert bad_kind.status_code == 422
    assert (not_allowed.status_code, not_allowed.json()["code"]) == (
        403,
        "operation_not_allowed",
    )


async def test_business_changes_reach_every_reader_of_the_feed(api: Api) -> None:
    """A dissolved business is seen by the province and by a ministry that watches nothing."""
    await api.observe(WatchKind.BUSINESS, TAX, {"status": "active"})
    await api.observe(WatchKind.BUSINESS, TAX, {"status": "dissolved"})
    for client in ("province-app", "ministry"):
        page = (await api.call("GET", "/v1/changes", client)).json()
        assert [(c["id"], c["type"]) for c in page["changes"]] == [(TAX, "status_changed")]
        assert page["changes"][0]["diff"][0]["new"] == "dissolved"
        assert page["next_cursor"] == page["changes"][0]["cursor"]
    blocked = await api.call("GET", "/v1/changes", "integrator")
    assert blocked.status_code == 403


async def test_citizen_changes_are_minimised_and_access_logged(api: Api) -> None:
    """The watcher sees the change cut to its fields; each hand-out is in the access log."""
    await api.call(
        "PUT", f"/v1/watch/citizen/{CITIZEN}", "limited", json={"purpose": "bhxh-dong-bo"}
    )
    await api.observe(WatchKind.CITIZEN, CITIZEN, {"full_name": "A", "permanent_address": "X"})
    await api.observe(WatchKind.CITIZEN, CITIZEN, {"full_name": "B", "permanent_address": "Y"})
    page = (
        await api.call(
            "GET", "/v1/changes?kind=citizen", "limited", headers={"X-User-Id": "VN" + CITIZEN}
        )
    ).json()
    assert [c["type"] for c in page["changes"]] == ["changed"]
    assert [d["field"] for d in page["changes"][0]["diff"]] == ["full_name"]
    log = await api.access_log(CITIZEN)
    assert [(e.client_id, e.operation, e.dossier_code) for e in log] == [
        ("limited", "ChangeFeed", "bhxh-dong-bo")
    ]
    assert log[0].fields == ("citizen_id", "full_name")
    assert log[0].official == "VN" + CITIZEN
    # a client that does not watch the citizen does not see the change at all
    others = (await api.call("GET", "/v1/changes", "province-app")).json()
    assert others["changes"] == []


async def test_a_caller_without_the_purpose_gets_403_and_no_access_log_entry(api: Api) -> None:
    """Asking for a citizen's changes without watching them: 403, nothing access-logged."""
    await api.call(
        "PUT", f"/v1/watch/citizen/{CITIZEN}", "limited", json={"purpose": "bhxh-dong-bo"}
    )
    await api.observe(WatchKind.CITIZEN, CITIZEN, {"full_name": "A"})
    await api.observe(WatchKind.CITIZEN, CITIZEN, {"full_name": "B"})
    denied = await api.call("GET", f"/v1/changes?kind=citizen&id={CITIZEN}", "province-app")
    inferred = await api.call("GET", f"/v1/changes?id={CITIZEN}", "ministry")
    assert (denied.status_code, denied.json()["code"]) == (403, "purpose_not_granted")
    assert inferred.status_code == 403
    assert await api.access_log(CITIZEN) == []
    allowed = await api.call("GET", f"/v1/changes?id={CITIZEN}", "limited")
    assert len(allowed.json()["changes"]) == 1
    assert len(await api.access_log(CITIZEN)) == 1


async def test_the_feed_pages_by_cursor_and_filters(api: Api) -> None:
    """Pages follow the cursor; an unchanged poll keeps it; a forged cursor is 400."""
    codes = [make_tax_code(f"01001091{index}") for index in range(1, 4)]
    for code in codes:
        await api.observe(WatchKind.BUSINESS, code, {"status": "active"})
        await api.observe(WatchKind.BUSINESS, code, {"status": "suspended"})
    first = (await api.call("GET", "/v1/changes?limit=2", "ministry")).json()
    rest = (
        await api.call("GET", f"/v1/changes?limit=2&since={first['next_cursor']}", "ministry")
    ).json()
    idle = (await api.call("GET", f"/v1/changes?since={rest['next_cursor']}", "ministry")).json()
    one = (await api.call("GET", f"/v1/changes?id={codes[1]}", "ministry")).json()
    forged = await api.call("GET", "/v1/changes?since=bm90LWEtY3Vyc29y", "ministry")
    assert [c["id"] for c in first["changes"]] == codes[:2]
    assert first["has_more"]
    assert [c["id"] for c in rest["changes"]] == codes[2:]
    assert not rest["has_more"]
    assert idle == {"changes": [], "next_cursor": rest["next_cursor"], "has_more": False}
    assert [c["id"] for c in one["changes"]] == [codes[1]]
    assert (forged.status_code, forged.json()["code"]) == (400, "invalid_cursor")
    bad_id = await api.call("GET", "/v1/changes?id=0000000000", "ministry")
    assert bad_id.status_code == 422


async def test_a_change_only_in_hidden_fields_is_not_handed_out(api: Api) -> None:
    """A citizen change the caller may not see any field of: no event, no log, cursor moves on."""
    await api.call(
        "PUT", f"/v1/watch/citizen/{CITIZEN}", "limited", json={"purpose": "bhxh-dong-bo"}
    )
    await api.observe(WatchKind.CITIZEN, CITIZEN, {"full_name": "A", "permanent_address": "X"})
    await api.observe(WatchKind.CITIZEN, CITIZEN, {"full_name": "A", "permanent_address": "Y"})
    await api.observe(WatchKind.CITIZEN, CITIZEN, None)
    page = (await api.call("GET", "/v1/changes", "limited")).json()
    assert [c["type"] for c in page["changes"]] == ["not_found"]
    assert page["next_cursor"] == page["changes"][0]["cursor"]
    assert [e.fields for e in await api.access_log(CITIZEN)] == [("citizen_id",)]
