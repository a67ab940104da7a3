"""Dossiers through the adapter over real HTTP: writes, events, reads, the feed, sectors, sync.

The write-and-read paths run on SQLite and, when ``LIENTHONG_TEST_PG_DSN`` is set, on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.api_harness import (
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
    """The adapter + mocks on SQLite, or on the session's PostgreSQL database."""
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_dsn")
    root = tmp_path_factory.mktemp(f"api_dossiers_{request.param}")
    with running_sandbox(root, dev_keys, database_url=database_url) as running:
        if database_url is not None:  # the session's database: other modules' dossiers out
            reset_postgres(database_url)
        yield running


def _event(sequence: int, status: int, minute: int = 0) -> dict[str, object]:
    occurred = dt.datetime(2026, 11, 26, 9, minute, tzinfo=dt.UTC)
    return {"sequence": sequence, "status": status, "occurred_at": occurred.isoformat()}


def test_register_then_update_then_repeat(sandbox: Sandbox) -> None:
    """PUT creates (201), a changed body updates (200), the same body again changes nothing."""
    code = new_dossier_code()
    body = dossier_body(code)
    with sandbox.client() as client:
        created = client.put(f"/v1/dossiers/{code}", json=body)
        accepted = client.put(f"/v1/dossiers/{code}", json={**body, "status": 2})
        again = client.put(f"/v1/dossiers/{code}", json={**body, "status": 2})
        stored = client.get(f"/v1/dossiers/{code}")
    assert created.status_code == 201
    assert created.json() == {
        "code": code,
        "created": True,
        "changed": True,
        "status": 1,
        "last_sequence": 0,
        # computed: 1.001193 takes one working day, from Thursday 26 Nov 08:30
        "due_at": "2026-11-27T17:00:00+07:00",
    }
    assert (accepted.status_code, accepted.json()["changed"]) == (200, True)
    assert (again.status_code, again.json()["changed"]) == (200, False)
    assert stored.status_code == 200
    view = stored.json()
    assert (view["code"], view["status"], view["sector_code"]) == (code, 2, "TP.HT")
    assert view["sync"]["status"] in {"pending", "delivered"}


def test_invalid_dossier_bodies_name_the_field(sandbox: Sandbox) -> None:
    """A receipt date that contradicts the code, or a bad status, is a 422 naming the field."""
    code = new_dossier_code()
    body = dossier_body(code)
    with sandbox.client() as client:
        wrong_day = client.put(
            f"/v1/dossiers/{code}", json={**body, "received_at": "2026-11-20T08:30:00+07:00"}
        )
        naive = client.put(
            f"/v1/dossiers/{code}", json={**body, "updated_at": "2026-11-26T08:30:00"}
        )
        late_start = client.put(f"/v1/dossiers/{code}", json={**body, "status": 9})
        bad_code = client.put("/v1/dossiers/not-a-code", json=body)
    assert wrong_day.status_code == 422
    assert wrong_day.json()["errors"][0]["field"] == "body.received_at"
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "body.updated_at"
    assert late_start.status_code == 422
    assert late_start.json()["code"] == "invalid_initial_status"
    assert bad_code.status_code == 422
    assert bad_code.json()["errors"][0]["field"] == "path.dossier_code"


def test_events_move_the_dossier_and_are_idempotent(sandbox: Sandbox) -> None:
    """Events append in sequence; a retry is a duplicate; gaps and illegal moves are 409."""
    with sandbox.client() as client:
        code = register_dossier(client)
        first = client.post(f"/v1/dossiers/{code}/events", json=_event(1, 2))
        retry = client.post(f"/v1/dossiers/{code}/events", json=_event(1, 2))
        gap = client.post(f"/v1/dossiers/{code}/events", json=_event(5, 4))
        illegal = client.post(f"/v1/dossiers/{code}/events", json=_event(2, 1, 5))
        step = client.post(f"/v1/dossiers/{code}/events", json=_event(2, 4, 10))
        history = client.get(f"/v1/dossiers/{code}/history")
    assert (first.status_code, first.json()["duplicate"]) == (202, False)
    assert (retry.status_code, retry.json()["duplicate"]) == (202, True)
    assert (gap.status_code, gap.json()["code"]) == (409, "sequence_conflict")
    assert gap.json()["expected_sequence"] == 2
    assert (illegal.status_code, illegal.json()["code"]) == (409, "illegal_transition")
    assert step.status_code == 202
    assert history.status_code == 200
    assert [(e["sequence"], e["status"]) for e in history.json()["events"]] == [(1, 2), (2, 4)]


def test_unknown_dossier_is_404_everywhere(sandbox: Sandbox) -> None:
    """Reading, listing the history of, or adding an event to an unknown dossier is 404."""
    code = new_dossier_code()
    with sandbox.client() as client:
        answers = [
            client.get(f"/v1/dossiers/{code}"),
            client.get(f"/v1/dossiers/{code}/history"),
            client.post(f"/v1/dossiers/{code}/events", json=_event(1, 2)),
        ]
    for response in answers:
        assert response.status_code == 404
        assert response.json()["code"] == "dossier_not_found"


def test_ministry_sees_only_its_sectors(sandbox: Sandbox) -> None:
    """A ministry reads its sectors' dossiers; another sector's is a 404 like a missing one."""
    with sandbox.client() as province:
        own = register_dossier(province, sector="TP.HT")
        other = register_dossier(province, sector="YT.KCB")
    with sandbox.client("ministry") as ministry:
        visible = ministry.get(f"/v1/dossiers/{own}")
        hidden = ministry.get(f"/v1/dossiers/{other}")
        hidden_history = ministry.get(f"/v1/dossiers/{other}/history")
        missing = ministry.get(f"/v1/dossiers/{new_dossier_code()}")
    assert visible.status_code == 200
    assert hidden.status_code == 404
    assert hidden_history.status_code == 404
    assert hidden.json()["code"] == missing.json()["code"] == "dossier_not_found"
    assert hidden.json()["detail"] == missing.json()["detail"]


def test_ministry_and_integrator_may_not_write(sandbox: Sandbox) -> None:
    """Writing dossiers is the province's: ministry and integrator get 403."""
    code = new_dossier_code()
    for party in ("ministry", "integrator"):
        with sandbox.client(party) as client:
            response = client.put(f"/v1/dossiers/{code}", json=dossier_body(code))
        assert response.status_code == 403
        assert response.json()["code"] == "operation_not_allowed"


def test_integrator_reads_every_sector(sandbox: Sandbox) -> None:
    """The integrator role reads dossiers of any sector (no sector limit)."""
    with sandbox.client() as province:
        code = register_dossier(province, sector="YT.KCB")
    with sandbox.client("integrator") as integrator:
        assert integrator.get(f"/v1/dossiers/{code}").status_code == 200


def test_feed_pages_with_cursor_and_filters_sectors(sandbox: Sandbox) -> None:
    """The ministry's feed lists only its sectors, pages with the opaque cursor, loses nothing."""
    with sandbox.client() as province:
        mine = [register_dossier(province, sector="TP.CT") for _ in range(3)]
        register_dossier(province, sector="YT.KCB")
    seen: list[str] = []
    with sandbox.client("ministry") as ministry:
        cursor = None
        for _ in range(50):
            params: dict[str, str | int] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = ministry.get("/v1/dossiers", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            seen += [item["code"] for item in body["items"]]
            assert all(
                item["sector_code"] in {"TP.HT", "TP.CT", "TP.LLTP"} for item in body["items"]
            )
            cursor = body["next_cursor"]
            if not body["has_more"]:
                break
    assert set(mine) <= set(seen)
    assert len(seen) == len(set(seen))


def test_feed_updated_since_and_bad_cursor(sandbox: Sandbox) -> None:
    """``updated_since`` in the future gives an empty page; a foreign cursor is 400."""
    with sandbox.client("ministry") as ministry:
        future = ministry.get("/v1/dossiers", params={"updated_since": "2100-01-01T00:00:00Z"})
        bad = ministry.get("/v1/dossiers", params={"cursor": "not-a-cursor"})
        naive = ministry.get("/v1/dossiers", params={"updated_since": "2026-01-01T00:00:00"})
    assert future.status_code == 200
    assert future.json()["items"] == []
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_cursor")
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "query.updated_since"


def test_registered_dossier_reaches_the_portal(sandbox: Sandbox) -> None:
    """The sync worker delivers a registered dossier to the portal mock; sync state says so."""
    with sandbox.client() as client:
        code = register_dossier(client)
        deadline = time.monotonic() + 20
        state = None
        while time.monotonic() < deadline:
            state = client.get(f"/v1/dossiers/{code}").json()["sync"]
            if state["status"] == "delivered":
                break
            time.sleep(0.1)
    assert state is not None
    assert state["status"] == "delivered", state
    held = sandbox.admin("GET", f"/_admin/portal/dossiers/{code}").json()
    assert code in str(held)


def _post_when_due(sandbox: Sandbox, code: str, sequence: int, status: int) -> httpx.Response:
    """Post one event; while the dossier is not yet at ``sequence`` (a 409 naming an earlier
    expected sequence), wait a moment and post it again, as a client sending in parallel would."""
    with sandbox.client() as client:
        for _ in range(1000):
            answer = client.post(
                f"/v1/dossiers/{code}/events", json=_event(sequence, status, sequence)
            )
            body = answer.json()
            early = answer.status_code == 409 and body.get("code") == "sequence_conflict"
            if not (early and body["expected_sequence"] < sequence):
                return answer
            time.sleep(0.005)
    raise AssertionError("the dossier never reached the sequence")


def test_concurrent_posts_on_one_dossier_keep_order_and_refuse_only_the_illegal_move(
    sandbox: Sandbox,
) -> None:
    """Many clients post steps of one dossier at once: every legal step is stored once, in
    sequence order, and reaches the portal in that order; the one illegal move (processing →
    result delivered) is refused with 409 for its own request only."""
    with sandbox.client() as client:
        code = register_dossier(client)
    steps = [(1, 2)] + [(n, 4) for n in range(2, 9)]  # accepted, then progress steps
    illegal = (9, 10)
    start = threading.Barrier(len(steps) + 1)

    def post(step: tuple[int, int]) -> httpx.Response:
        start.wait(timeout=10)
        return _post_when_due(sandbox, code, *step)

    with ThreadPoolExecutor(max_workers=len(steps) + 1) as pool:
        answers = list(pool.map(post, [*steps, illegal]))
    *legal, refused = answers
    assert [(a.status_code, a.json()["duplicate"]) for a in legal] == [(202, False)] * len(steps)
    assert refused.status_code == 409
    assert refused.json()["code"] == "illegal_transition"
    with sandbox.client() as client:
        history = client.get(f"/v1/dossiers/{code}/history").json()["events"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            held = sandbox.admin("GET", f"/_admin/portal/dossiers/{code}").json()
            if len(held["progress"]) >= len(steps):
                break
            time.sleep(0.1)
    assert [(e["sequence"], e["status"]) for e in history] == steps
    assert [(p["ThuTu"], p["TrangThaiHoSo"]) for p in held["progress"]] == steps
