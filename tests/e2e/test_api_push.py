"""Push through the adapter over real HTTP (sandbox): subscriptions, contacts, opt-outs, and the
deliveries the mock ministry receiver and ZNS mock get, visible on the dossier's view."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.api_harness import Sandbox, register_dossier, running_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """The adapter + mocks on SQLite, no quiet hours (the test may run at night)."""
    root = tmp_path_factory.mktemp("api_push")
    with running_sandbox(root, dev_keys, push_quiet_hours="") as running:
        yield running


def _until(check: Callable[[], Any], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("the condition did not come true in time")


def _hook_url(sandbox: Sandbox) -> str:
    return f"{sandbox.mock_url}/ministry/webhooks"


def test_a_ministry_subscribes_and_receives_signed_changes(sandbox: Sandbox) -> None:
    """The ministry's subscription to its allowed URL gets every change of its sectors, verified
    by the mock receiver; the dossier view shows the deliveries and the applicant's notice."""
    with sandbox.client("ministry") as ministry, sandbox.client() as province:
        created = ministry.post(
            "/v1/subscriptions", json={"url": _hook_url(sandbox), "sectors": ["TP.HT"]}
        )
        assert created.status_code == 201, created.text
        subscription = created.json()
        assert subscription["state"] == "active"
        code = register_dossier(province, sector="TP.HT")
        contact = province.put(
            f"/v1/dossiers/{code}/contact", json={"phone": "0912 345 678", "consent": True}
        )
        assert contact.status_code == 204, contact.text
        moved = province.post(
            f"/v1/dossiers/{code}/events",
            json={"sequence": 1, "status": 2, "occurred_at": "2026-11-26T09:00:00+07:00"},
        )
        assert moved.status_code == 202, moved.text

        def received() -> list[dict[str, Any]]:
            data = sandbox.admin("GET", "/_admin/ministry/deliveries").json()
            mine = [d for d in data["deliveries"] if d["dossier_code"] == code]
            return mine if len(mine) == 2 else []

        got = _until(received)
        assert [(d["type"], d["sequence"]) for d in got] == [
            ("dossier.changed", None),
            ("dossier.event", 1),
        ]
        assert sandbox.admin("GET", "/_admin/ministry/deliveries").json()["rejected"] == 0

        def noticed() -> dict[str, Any] | None:
            view = province.get(f"/v1/dossiers/{code}").json()
            notices = view["push"]["notices"]
            return view if notices and notices[0]["state"] == "delivered" else None

        view = _until(noticed)
        assert view["push"]["webhooks"] == {"delivered": 2}
        assert view["push"]["notices"][0]["event"] == "accepted"
        assert view["push"]["notices"][0]["channel"] == "zns"
        zns = sandbox.admin("GET", "/_admin/zns/messages").json()["messages"]
        assert [m["phone"] for m in zns if m["template_data"]["ma_ho_so"] == code] == [
            "84912345678"
        ]
        metrics = httpx.get(sandbox.base_url + "/metrics", timeout=10).text
        assert 'lienthong_push_total{channel="webhook",outcome="delivered"}' in metrics
        assert 'lienthong_push_total{channel="zns",outcome="delivered"}' in metrics
        assert "84912345678" not in metrics


def test_a_url_outside_the_allow_list_is_refused(sandbox: Sandbox) -> None:
    """Any URL but the client's allowed one is 403 webhook_url_not_allowed; a sector the ministry
    does not see is 422; an integrator may not subscribe at all."""
    with sandbox.client("ministry") as ministry, sandbox.client("integrator") as integrator:
        for url in (
            "http://127.0.0.1:1/hooks",
            _hook_url(sandbox) + "/",
            _hook_url(sandbox).replace("127.0.0.1", "localhost"),
            "http://169.254.169.254/latest/meta-data/",
        ):
            refused = ministry.post("/v1/subscriptions", json={"url": url})
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["code"] == "webhook_url_not_allowed"
        other = ministry.post(
            "/v1/subscriptions", json={"url": _hook_url(sandbox), "sectors": ["YT.KCB"]}
        )
        assert other.status_code == 422
        assert other.json()["code"] == "sectors_not_allowed"
        denied = integrator.post("/v1/subscriptions", json={"url": _hook_url(sandbox)})
        assert denied.status_code == 403
        assert denied.json()["code"] == "operation_not_allowed"


def test_subscriptions_are_listed_paused_resumed_replayed_and_deleted(sandbox: Sandbox) -> None:
    """The owner manages its subscription; another client cannot see it."""
    with sandbox.client("ministry") as ministry, sandbox.client() as province:
        sub = ministry.post("/v1/subscriptions", json={"url": _hook_url(sandbox)}).json()
        listed = ministry.get("/v1/subscriptions").json()["items"]
        assert sub["id"] in [s["id"] for s in listed]
        assert province.get("/v1/subscriptions").json()["items"] == []
        paused = ministry.post(f"/v1/subscriptions/{sub['id']}/pause")
        assert paused.json()["state"] == "paused"
        resumed = ministry.post(f"/v1/subscriptions/{sub['id']}/resume")
        assert resumed.json()["state"] == "active"
        replay = ministry.post(f"/v1/subscriptions/{sub['id']}/replay", json={"after": 0})
        assert replay.status_code == 200
        assert replay.json()["subscription_id"] == sub["id"]
        assert province.delete(f"/v1/subscriptions/{sub['id']}").status_code == 404
        assert ministry.delete(f"/v1/subscriptions/{sub['id']}").status_code == 204
        assert ministry.delete(f"/v1/subscriptions/{sub['id']}").status_code == 404


def test_phones_are_checked_and_opt_outs_recorded(sandbox: Sandbox) -> None:
    """A malformed phone is 422 invalid_phone (the number not echoed); an opt-out is 204."""
    with sandbox.client() as province:
        code = register_dossier(province)
        bad = province.put(
            f"/v1/dossiers/{code}/contact", json={"phone": "0212 345 678", "consent": True}
        )
        assert bad.status_code == 422
        assert bad.json()["code"] == "invalid_phone"
        assert "345" not in bad.text
        missing = province.put(
            "/v1/dossiers/000.00.04.H04-261126-9998/contact",
            json={"phone": "0912345678", "consent": True},
        )
        assert missing.status_code == 404
        assert (
            province.post("/v1/notices/opt-out", json={"phone": "+84 912 345 678"}).status_code
            == 204
        )
        assert province.post("/v1/notices/opt-out", json={"phone": "12"}).status_code == 422
