"""The adapter whose PostgreSQL server is down answers 503 ``store_unavailable``, never 500.

A real server is pointed at a port on 127.0.0.1 where nothing listens: every route that needs
the store gets the socket's refusal (``ConnectionRefusedError`` from asyncpg), which the store
turns into ``DatabaseUnavailable`` and the API into a problem a client can retry on.

The adapter is built as ``lienthong serve`` builds it, without its background services: they
need the store to start (the timeliness service loads its procedure table), and what is tested
here is the routes' answer once the database has gone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapter_api.app import create_app
from adapter_api.problems import PROBLEM_MEDIA_TYPE
from lienthong.bootstrap import build_container, prepare
from lienthong.settings import Settings
from tests.e2e.api_harness import OFFICIAL, Sandbox, dossier_body, new_dossier_code
from tests.support.servers import free_port, serve_app

CITIZEN = "079203000456"
APPLICANT_NAME = "Nguyễn Văn An"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """The adapter with its store on a PostgreSQL port nobody listens on (no migration)."""
    root = tmp_path_factory.mktemp("api_database_down")
    settings = Settings(
        sandbox=True,
        keys_dir=dev_keys,
        data_dir=root / "data",
        database_url=f"postgresql://lienthong:lienthong@127.0.0.1:{free_port()}/test",
        migrate_on_start=False,
        port=free_port(),
        mock_port=free_port(),
    )
    prepare(settings)
    container = build_container(settings)
    container.services.clear()
    with serve_app(create_app(container), port=settings.port, startup_seconds=30) as base_url:
        yield Sandbox(base_url, settings, container, dev_keys)


def _request(route: str, code: str) -> tuple[str, str, dict[str, object]]:
    """The method, path and options of a valid request to ``route`` for dossier ``code``."""
    body = dossier_body(code, applicant_id=CITIZEN)
    event = {"sequence": 1, "status": 2, "occurred_at": body["updated_at"]}
    purpose = {"X-User-Id": OFFICIAL, "X-Issue": code}
    return {
        "put_dossier": ("PUT", f"/v1/dossiers/{code}", {"json": body}),
        "post_event": ("POST", f"/v1/dossiers/{code}/events", {"json": event}),
        "get_dossier": ("GET", f"/v1/dossiers/{code}", {}),
        "feed": ("GET", "/v1/dossiers", {}),
        "citizen": ("GET", f"/v1/citizens/{CITIZEN}", {"headers": purpose}),
    }[route]


@pytest.mark.parametrize("route", ["put_dossier", "post_event", "get_dossier", "feed", "citizen"])
def test_a_refused_database_is_503_store_unavailable(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, route: str
) -> None:
    """Each store route answers 503 problem+json ``store_unavailable``: no traceback, no
    driver error or database address in the body, and no personal value in the log."""
    method, path, options = _request(route, new_dossier_code())
    with caplog.at_level(logging.DEBUG), sandbox.client() as client:
        response: httpx.Response = client.request(method, path, **options)  # type: ignore[arg-type]
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert response.json()["code"] == "store_unavailable"
    for leak in ("Traceback", "ConnectionRefused", "Connect call failed", "lienthong@"):
        assert leak not in response.text
    # the server's records (the test's own HTTP client logs the URL it asked for)
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    )
    for personal in (CITIZEN, APPLICANT_NAME):
        assert personal not in logged
