"""The operator console over real HTTP: roles, CSRF, security headers, the audit trail.

The adapter runs as ``lienthong serve`` builds it (sandbox, SQLite), with the sync worker giving
up after one failed attempt so a portal outage makes dead letters at once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import select

from console.headers import CONTENT_SECURITY_POLICY
from store.tables.operators import console_audit
from tests.e2e.api_harness import (
    Sandbox,
    dossier_body,
    new_dossier_code,
    register_dossier,
    running_sandbox,
)
from tests.support.console import ConsoleUser, add_operator


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """The adapter + mocks; a delivery that fails once is a dead letter (and the portal's breaker
    stays closed, so a retried delivery is really sent)."""
    root = tmp_path_factory.mktemp("console_http")
    with running_sandbox(
        root,
        dev_keys,
        worker_max_attempts=1,
        breaker_failure_threshold=1000,
        timeliness_interval_seconds=0.5,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def operators(sandbox: Sandbox) -> dict[str, str]:
    """One account per role: role -> name."""
    names = {role: f"{role}-{uuid.uuid4().hex[:6]}" for role in ("viewer", "operator", "auditor")}
    for role, name in names.items():
        add_operator(sandbox.settings.resolved_database_url, name, role)
    return names


def _audit(sandbox: Sandbox, operator: str) -> list[tuple[str, str | None, str]]:
    url = sandbox.settings.resolved_database_url.replace("+aiosqlite", "")
    engine = create_sync_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(console_audit.c.action, console_audit.c.target, console_audit.c.outcome)
                .where(console_audit.c.operator == operator)
                .order_by(console_audit.c.id)
            ).all()
    finally:
        engine.dispose()
    return [(row.action, row.target, row.outcome) for row in rows]


def _dead_letter(sandbox: Sandbox) -> str:
    """A dossier whose delivery died: registered while the portal is out."""
    sandbox.set_faults("portal", outage=True)
    try:
        with sandbox.client() as client:
            code = register_dossier(client)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if client.get(f"/v1/dossiers/{code}").json()["sync"]["status"] == "dead":
                    return code
                time.sleep(0.1)
    finally:
        sandbox.clear_faults()
    raise AssertionError("the delivery never died")


def test_pages_need_a_session(sandbox: Sandbox) -> None:
    """Without a session every page sends the browser to the login page."""
    with ConsoleUser(sandbox.base_url) as user:
        for path in ("/", "/dead-letters", "/access-log", "/message-log", "/clients"):
            answer = user.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/console/login"


def test_login_sets_a_hardened_session_cookie_and_the_security_headers(
    sandbox: Sandbox, operators: dict[str, str]
) -> None:
    """The session cookie is HttpOnly, Secure, SameSite=Strict and scoped to /console; pages
    carry a CSP without inline script, frame denial and no-store."""
    with ConsoleUser(sandbox.base_url) as user:
        answer = user.login(operators["viewer"])
        assert answer.status_code == 303
        cookie = next(
            h for h in answer.headers.get_list("set-cookie") if h.startswith("lienthong_console=")
        )
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "secure", "samesite=strict", "path=/console"} <= flags
        page = user.get("/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text
    assert " style=" not in page.text


def test_login_form_needs_its_own_csrf_token(sandbox: Sandbox, operators: dict[str, str]) -> None:
    """A login posted from another site (no token bound to the login cookie) is refused."""
    with ConsoleUser(sandbox.base_url) as user:
        answer = user.post(
            "/login", {"name": operators["viewer"], "password": "x" * 20}, csrf=False
        )
    assert answer.status_code == 403
    assert "lienthong_console" not in answer.headers.get("set-cookie", "")


def test_a_viewer_cannot_retry_and_the_refusal_is_audited(
    sandbox: Sandbox, operators: dict[str, str]
) -> None:
    """A viewer's retry is refused with 403; the dead letter stays dead."""
    code = _dead_letter(sandbox)
    with ConsoleUser(sandbox.base_url) as user:
        user.login(operators["viewer"])
        page = user.get("/dead-letters")
        assert code in page.text
        assert 'class="retry"' not in page.text
        item = page.text.split(f'/dossiers/{code}"')[0].rsplit('data-id="', 1)[1].split('"')[0]
        answer = user.post(f"/dead-letters/{item}/retry")
        assert answer.status_code == 403
    with sandbox.client() as client:
        assert client.get(f"/v1/dossiers/{code}").json()["sync"]["status"] == "dead"
    assert ("refused.act", f"/console/dead-letters/{item}/retry", "forbidden") in _audit(
        sandbox, operators["viewer"]
    )


def test_a_post_without_the_csrf_token_changes_nothing(
    sandbox: Sandbox, operators: dict[str, str]
) -> None:
    """An operator's retry-all posted without the session's token is refused; nothing retried."""
    code = _dead_letter(sandbox)
    with ConsoleUser(sandbox.base_url) as user:
        user.login(operators["operator"])
        user.get("/dead-letters")
        answer = user.post("/dead-letters/retry-all", {"confirm": "yes"}, csrf=False)
        forged = user.http.post(
            "/dead-letters/retry-all",
            data={"confirm": "yes", "csrf": "forged"},
            headers=user.cookie_header(),
        )
    assert answer.status_code == 403
    assert forged.status_code == 403
    with sandbox.client() as client:
        assert client.get(f"/v1/dossiers/{code}").json()["sync"]["status"] == "dead"


def test_an_operator_retries_a_dead_letter_and_it_is_delivered(
    sandbox: Sandbox, operators: dict[str, str]
) -> None:
    """Retry with confirmation: the dead letter goes back to the queue and reaches the portal."""
    code = _dead_letter(sandbox)
    with ConsoleUser(sandbox.base_url) as user:
        user.login(operators["operator"])
        user.get("/dead-letters")
        unconfirmed = user.post("/dead-letters/retry-all")
        assert unconfirmed.status_code == 303  # back to the confirmation page
        confirm = user.get("/dead-letters/retry-all")
        assert 'id="count"' in confirm.text
        done = user.post("/dead-letters/retry-all", {"confirm": "yes"})
        assert done.status_code == 200
    with sandbox.client() as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if client.get(f"/v1/dossiers/{code}").json()["sync"]["status"] == "delivered":
                break
            time.sleep(0.1)
        state = client.get(f"/v1/dossiers/{code}").json()["sync"]
        assert state["status"] == "delivered", str(state)
    actions = [a for a, _, _ in _audit(sandbox, operators["operator"])]
    assert "dead_letter.retry_all" in actions


def test_only_an_auditor_reads_the_access_log_and_each_look_is_recorded(
    sandbox: Sandbox, operators: dict[str, str]
) -> None:
    """The operator is refused; the auditor sees who looked the citizen up; the look is in the
    audit trail under the citizen's keyed hash, never the ID; the ID never appears in a URL."""
    citizen = sandbox.citizens(1)[0]["citizen_id"]
    with ConsoleUser(sandbox.base_url) as user:
        user.login(operators["operator"])
        assert user.get("/access-log").status_code == 403
    with ConsoleUser(sandbox.base_url) as user:
        user.login(operators["auditor"])
        user.get("/access-log")
        answer = user.post("/access-log", {"citizen_id": citizen})
        assert answer.status_code == 200
        assert citizen not in str(answer.url)
        bad = user.post("/access-log", {"citizen_id": "12345"})
        assert bad.status_code == 422
    trail = _audit(sandbox, operators["auditor"])
    views = [(target, outcome) for action, target, outcome in trail if action == "access_log.view"]
    assert len(views) == 1
    assert views[0][0] is not None
    assert views[0][0].startswith("citizen:")
    assert citizen not in str(trail)


def test_logout_ends_the_session(sandbox: Sandbox, operators: dict[str, str]) -> None:
    """After logging out the old cookie opens nothing."""
    with ConsoleUser(sandbox.base_url) as user:
        user.login(operators["viewer"])
        old = dict(user.cookies)
        user.get("/")
        assert user.post("/logout").status_code == 303
        again = user.http.get("/", headers=user.cookie_header(old))
    assert again.status_code == 303


def test_message_log_verify_and_bundle_download(
    sandbox: Sandbox, operators: dict[str, str]
) -> None:
    """An auditor runs the chain check (its verdict is shown and audited) and downloads the
    evidence bundle of an exchange found by dossier code."""
    with sandbox.client() as client:
        code = register_dossier(client)
        deadline = time.monotonic() + 30
        while client.get(f"/v1/dossiers/{code}").json()["sync"]["status"] != "delivered":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    with ConsoleUser(sandbox.base_url) as user:
        user.login(operators["auditor"])
        user.get("/message-log")
        assert user.post("/message-log/verify").status_code == 303
        page = user.get("/message-log")
        assert 'id="last-verify" class="ok"' in page.text
        found = user.get("/message-log", params={"dossier": code})
        message_id = found.text.split("/message-log/bundle/", 1)[1].split('"', 1)[0]
        bundle = user.get(f"/message-log/bundle/{message_id}")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "application/zip"
    assert bundle.content[:2] == b"PK"
    actions = [a for a, _, _ in _audit(sandbox, operators["auditor"])]
    assert {"message_log.verify", "message_log.bundle"} <= set(actions)


def test_timeliness_page_csv_and_apology_confirmation(
    sandbox: Sandbox, operators: dict[str, str]
) -> None:
    """A dossier past its due date is listed overdue, its drafted apology is confirmed from the
    page (audited; the dossier's due date moves), and the CSV download holds the report's
    rows with the same total as the API's report."""
    code = new_dossier_code()
    body = {**dossier_body(code), "due_at": "2026-11-27T17:00:00+07:00"}
    with sandbox.client() as client:
        assert client.put(f"/v1/dossiers/{code}", json=body).status_code == 201
        api = client.get(
            "/v1/reports/timeliness",
            params={"from": "2026-01-01", "to": "2026-12-31", "group_by": "sector"},
        ).json()
    with ConsoleUser(sandbox.base_url) as user:
        user.login(operators["operator"])
        deadline = time.monotonic() + 30
        page = user.get("/timeliness", params={"from": "2026-01-01", "to": "2026-12-31"})
        apology_link = f"/timeliness/apologies/{code}/"
        while apology_link not in page.text:
            assert time.monotonic() < deadline, "no apology was drafted for the dossier"
            time.sleep(0.3)
            page = user.get("/timeliness", params={"from": "2026-01-01", "to": "2026-12-31"})
        assert page.status_code == 200
        late = page.text.split('id="late"', 1)[1].split("</table>", 1)[0]
        assert code in late
        assert "overdue" in late
        assert '<svg id="chart"' in page.text
        apology = page.text.split(apology_link, 1)[1].split("/", 1)[0]
        confirmed = user.post(f"/timeliness/apologies/{code}/{apology}/confirm")
        assert confirmed.status_code == 200
        assert "Xác nhận phiếu xin lỗi: ok" in confirmed.text
        csv_answer = user.get(
            "/timeliness.csv",
            params={"from": "2026-01-01", "to": "2026-12-31", "group_by": "sector"},
        )
    assert csv_answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_answer.headers["content-disposition"]
    lines = csv_answer.text.splitlines()
    assert lines[0].split(",")[:3] == ["key", "received", "resolved"]
    total = lines[-1].split(",")
    assert total[0] == "total"
    assert int(total[1]) >= api["total"]["received"]
    assert ("apology.confirm", f"{code}#{apology}", "ok") in _audit(sandbox, operators["operator"])
    with sandbox.client() as client:
        due = client.get(f"/v1/dossiers/{code}").json()["due_at"]
    assert not due.startswith("2026-11-27")
