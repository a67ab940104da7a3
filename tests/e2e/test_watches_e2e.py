"""Watched records end to end: the sandbox adapter over signed HTTP, the mock national endpoints,
``lienthong records`` (import, refresh, verify) and the change feed.

A change made in the mocks (``PATCH /_admin/…``: a business dissolved, a citizen moved) travels
through a refresh into ``GET /v1/changes`` once, with its diff; an outage mid-refresh is resumed
without a duplicate; a caller without the purpose gets 403 and leaves no access-log entry.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from connectors.base import CallContext
from lienthong.bootstrap import upstream_connectors
from lienthong.watches_cli import EXIT_PARTIAL, records
from schemas.citizen_id import Sex, make_citizen_id
from schemas.tax_code import make_tax_code
from store.watches.types import WatchKind
from tests.e2e.api_harness import OFFICIAL, Sandbox, register_dossier, running_sandbox
from watches.refresh import RefreshReport, RefreshSettings, WatchRefresher


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, dev_keys: Path) -> Iterator[Sandbox]:
    """One adapter + mocks for this module (short upstream patience, so outages end quickly)."""
    root = tmp_path_factory.mktemp("records_e2e")
    with running_sandbox(
        root,
        dev_keys,
        upstream_attempt_timeout=1.0,
        upstream_deadline=2.0,
        upstream_attempts=2,
        breaker_failure_threshold=3,
        breaker_reset_seconds=30,
    ) as running:
        yield running


def _cli(sandbox: Sandbox, *args: str) -> Result:
    """``lienthong records ARGS`` against the sandbox's store, keys and mocks."""
    settings = sandbox.settings
    result = CliRunner().invoke(
        records,
        [*args, "--data", str(settings.data_dir), "--keys", str(sandbox.keys_dir), "--no-progress"],
        env={"LIENTHONG_MOCK_PORT": str(settings.mock_port), "LIENTHONG_SANDBOX": "true"},
        catch_exceptions=False,
    )
    return result


def _refresh(sandbox: Sandbox) -> dict[str, Any]:
    result = _cli(sandbox, "refresh")
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["finished"]
    return report


def _changes(sandbox: Sandbox, party: str, **params: str) -> httpx.Response:
    with sandbox.client(party) as http:
        return http.get("/v1/changes", params=params, headers={"X-User-Id": OFFICIAL})


def _active_businesses(sandbox: Sandbox, count: int, skip: int = 0) -> list[str]:
    found = [b["tax_code"] for b in sandbox.businesses(limit=50) if b["status"] == "active"]
    assert len(found) >= skip + count, "the mock has too few active businesses"
    return found[skip : skip + count]


def _watch_businesses(sandbox: Sandbox, tax_codes: list[str]) -> None:
    with sandbox.client("province-app") as http:
        for tax_code in tax_codes:
            response = http.put(f"/v1/watch/business/{tax_code}")
            assert response.status_code in (200, 201), response.text


def test_a_dissolved_business_appears_once_in_the_feed_with_its_diff(sandbox: Sandbox) -> None:
    """Watch, refresh (baseline), dissolve in the registry mock, refresh twice: one event."""
    dissolved, unchanged = _active_businesses(sandbox, 2)
    _watch_businesses(sandbox, [dissolved, unchanged])
    _refresh(sandbox)
    assert _changes(sandbox, "ministry", id=dissolved).json()["changes"] == []
    sandbox.admin("PATCH", f"/_admin/registry/businesses/{dissolved}", json={"status": "dissolved"})
    _refresh(sandbox)
    _refresh(sandbox)
    for party in ("ministry", "province-app"):
        page = _changes(sandbox, party, id=dissolved)
        assert page.status_code == 200, page.text
        events = page.json()["changes"]
        assert [(e["id"], e["type"]) for e in events] == [(dissolved, "status_changed")]
        status = [d for d in events[0]["diff"] if d["field"] == "status"]
        assert (status[0]["old"], status[0]["new"]) == ("active", "dissolved")
    assert _changes(sandbox, "ministry", id=unchanged).json()["changes"] == []


def test_a_moved_citizen_reaches_the_watcher_and_the_access_log(sandbox: Sandbox) -> None:
    """A citizen moved in the population mock: one ``changed`` event with the address diff for
    the watcher (access-logged); a caller without the purpose gets 403 and no log entry."""
    citizen = sandbox.citizens(limit=3)[2]["citizen_id"]
    with sandbox.client("province-app") as http:
        dossier = register_dossier(http, persons=[citizen])
        watched = http.put(
            f"/v1/watch/citizen/{citizen}",
            json={"purpose": dossier},
            headers={"X-User-Id": OFFICIAL},
        )
        refused = http.put(
            f"/v1/watch/citizen/{citizen}",
            json={"purpose": "000.00.04.H04-261126-9999"},
            headers={"X-User-Id": OFFICIAL},
        )
    assert watched.status_code in (200, 201), watched.text
    assert (refused.status_code, refused.json()["code"]) == (403, "purpose_not_granted")
    _refresh(sandbox)
    sandbox.admin("PATCH", f"/_admin/population/citizens/{citizen}", json={"province_code": "079"})
    _refresh(sandbox)

    denied = _changes(sandbox, "ministry", id=citizen)
    assert (denied.status_code, denied.json()["code"]) == (403, "purpose_not_granted")
    with sandbox.client("province-app") as http:
        before = http.get(f"/v1/access-log/{citizen}").json()["entries"]
    assert not [item for item in before if item["operation"] == "ChangeFeed"]

    page = _changes(sandbox, "province-app", kind="citizen", id=citizen)
    events = page.json()["changes"]
    assert [e["type"] for e in events] == ["changed"]
    assert "permanent_address" in {d["field"] for d in events[0]["diff"]}
    with sandbox.client("province-app") as http:
        log = http.get(f"/v1/access-log/{citizen}").json()["entries"]
    feed_entries = [item for item in log if item["operation"] == "ChangeFeed"]
    assert [(e["client_id"], e["dossier_code"]) for e in feed_entries] == [
        ("province-app", dossier)
    ]


class _OutageAfter:
    """The registry connector, until ``calls`` reads have been made: then the mock goes down."""

    def __init__(self, registry: Any, sandbox: Sandbox, calls: int) -> None:
        self._registry = registry
        self._sandbox = sandbox
        self._left = calls

    async def get_business(self, tax_code: str, ctx: CallContext) -> Any:
        if self._left == 0:
            async with httpx.AsyncClient(base_url=self._sandbox.mock_url) as admin:
                response = await admin.put("/_admin/faults/registry", json={"outage": True})
                response.raise_for_status()
        self._left -= 1
        return await self._registry.get_business(tax_code, ctx)


def _refresh_in_process(sandbox: Sandbox, outage_after: int | None = None) -> RefreshReport:
    async def run() -> RefreshReport:
        from store.db import create_engine, create_sessionmaker

        engine = create_engine(sandbox.settings.resolved_database_url)
        try:
            async with upstream_connectors(sandbox.settings) as (population, registry):
                reader = (
                    registry
                    if outage_after is None
                    else _OutageAfter(registry, sandbox, outage_after)
                )
                refresher = WatchRefresher(
                    create_sessionmaker(engine),
                    population=population,
                    registry=reader,
                    settings=RefreshSettings(batch_size=4, concurrency=1),
                )
                return await refresher.run_once()
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_a_refresh_during_an_outage_resumes_without_duplicate_events(sandbox: Sandbox) -> None:
    """The registry goes down mid-pass: the pass stops, resumes later, each change recorded once."""
    tax_codes = _active_businesses(sandbox, 10, skip=5)
    _watch_businesses(sandbox, tax_codes)
    assert _refresh_in_process(sandbox).finished
    for tax_code in tax_codes:
        sandbox.admin(
            "PATCH", f"/_admin/registry/businesses/{tax_code}", json={"status": "suspended"}
        )
    try:
        cut = _refresh_in_process(sandbox, outage_after=5)
    finally:
        sandbox.clear_faults()
    assert cut.interrupted
    assert not cut.finished
    assert cut.kinds[WatchKind.BUSINESS].upstream_error in ("UpstreamUnavailable", "CircuitOpen")
    resumed = _refresh_in_process(sandbox)
    assert resumed.resumed
    assert resumed.finished
    again = _refresh_in_process(sandbox)
    assert again.changes == 0
    for tax_code in tax_codes:
        events = _changes(sandbox, "ministry", id=tax_code).json()["changes"]
        assert [e["type"] for e in events] == ["status_changed"], tax_code


def test_a_bulk_import_imports_the_good_rows_and_reports_the_rest(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """``records import``: good rows become watches, bad ones are reported (exit 3)."""
    tax_codes = _active_businesses(sandbox, 2, skip=20)
    citizen, other = (c["citizen_id"] for c in sandbox.citizens(limit=7)[5:7])
    with sandbox.client("province-app") as http:
        dossier = register_dossier(http, persons=[citizen])
    path = tmp_path / "watches.csv"
    path.write_text(
        "kind,id,purpose,official\n"
        f"business,{tax_codes[0]},,\n"
        f"business,{tax_codes[1]},,\n"
        f"citizen,{citizen},{dossier},{OFFICIAL}\n"
        f"citizen,{citizen[:-1]},{dossier},{OFFICIAL}\n"
        f"citizen,{other},000.00.04.H04-261126-9998,{OFFICIAL}\n"
        f"business,{make_tax_code('010010910')[:-1]}0,,\n",
        encoding="utf-8",
    )
    report = tmp_path / "rejected.csv"
    result = _cli(sandbox, "import", str(path), "--client", "province-app", "--report", str(report))
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert "imported 3 of 6 rows" in result.stdout
    rejected = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [(r["line"], r["code"]) for r in rejected] == [
        ("5", "invalid_citizen_id"),
        ("6", "purpose_not_granted"),
        ("7", "invalid_tax_code"),
    ]
    with sandbox.client("province-app") as http:
        watches = http.get("/v1/watch").json()["watches"]
    watched = {(w["kind"], w["id"]) for w in watches}
    assert {("business", tax_codes[0]), ("business", tax_codes[1]), ("citizen", citizen)} <= watched


def test_bulk_verification_reports_matches_mismatches_and_invalid_rows(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """``records verify``: a CSV report of match / mismatch / invalid, nothing else disclosed."""
    people = sandbox.citizens(limit=4)
    unknown = make_citizen_id("001", 1950, Sex.MALE, 999_999)
    rows = [(p["citizen_id"], p["full_name"], p["date_of_birth"]) for p in people[:3]] + [
        (people[3]["citizen_id"], people[3]["full_name"] + " X", people[3]["date_of_birth"]),
        (unknown, "Không Có", "1950-01-01"),
        ("12345", "Sai Số", "1990-01-01"),
    ]
    path = tmp_path / "people.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["citizen_id", "full_name", "date_of_birth"])
        writer.writerows(rows)
    report = tmp_path / "report.csv"
    result = _cli(
        sandbox,
        "verify",
        str(path),
        "--out",
        str(report),
        "--user-id",
        OFFICIAL,
        "--issue",
        "000.00.04.H04-261126-0001",
    )
    assert result.exit_code == 0, result.output
    verdicts = [r["result"] for r in csv.DictReader(report.open(encoding="utf-8"))]
    assert verdicts == ["match", "match", "match", "mismatch", "mismatch", "invalid"]
    assert "match 3, mismatch 2, invalid 1, error 0 of 6 rows" in result.stderr


def test_an_unreadable_import_file_imports_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    """A file without the needed columns fails as a whole (exit 1), with nothing imported."""
    path = tmp_path / "wrong.csv"
    path.write_text("name,purpose\nx,y\n", encoding="utf-8")
    result = _cli(sandbox, "import", str(path), "--client", "province-app")
    assert result.exit_code == 1
    assert "no column kind, id; nothing was imported" in result.output


def test_the_refresh_command_reports_an_interrupted_pass(sandbox: Sandbox) -> None:
    """``records refresh`` during a registry outage exits 3 (resumable); after it, 0."""
    _watch_businesses(sandbox, _active_businesses(sandbox, 20)[-1:])
    sandbox.set_faults("registry", outage=True)
    try:
        cut = _cli(sandbox, "refresh")
    finally:
        sandbox.clear_faults()
    assert cut.exit_code == EXIT_PARTIAL, cut.output
    assert json.loads(cut.stdout.strip().splitlines()[-1])["interrupted"]
    _refresh(sandbox)
