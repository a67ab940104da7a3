"""`lienthong sync run --once` and `sync reconcile` against the portal mock on real HTTP.

The store is migrated and then given every other area's tables too (as the project's single
migration will), so that `sync run` records its exchanges in the message log by default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import store.tables  # noqa: F401 - every area's tables
from lienthong.sync_cli import sync
from store.db import create_engine
from store.metadata import metadata
from store.outbox import SqlOutbox
from tests.integration.sync_support import (
    PortalMock,
    assert_portal_has_exactly,
    record_dossiers,
    running_portal_mock,
)
from tests.support.stores import make_dossier


@pytest.fixture(scope="module")
def portal_mock(dev_keys: Path) -> Iterator[PortalMock]:
    """One mock for the module, emptied and fault-free before each test."""
    with running_portal_mock(dev_keys) as mock:
        yield mock


async def _prepare(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)  # other areas' tables, if missing
        await record_dossiers(engine, range(1, 7), 3)
    finally:
        await engine.dispose()


async def _pending_and_logged(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        stats = await SqlOutbox(engine).stats()
        logged = 0
        if "message_log" in metadata.tables:
            async with engine.connect() as connection:
                table = metadata.tables["message_log"]
                logged = int(await connection.scalar(select(func.count()).select_from(table)) or 0)
        return stats.pending, logged
    finally:
        await engine.dispose()


def test_run_once_then_reconcile_restores_what_the_portal_lost(
    store_url: str, portal_mock: PortalMock, dev_keys: Path
) -> None:
    """`run --once` delivers everything (logging each exchange); after the portal loses it all,
    `reconcile` finds every dossier missing, and the next run puts them back, once each."""
    portal_mock.reset()
    asyncio.run(_prepare(store_url))
    runner = CliRunner()
    common = ["--database-url", store_url, "--keys", str(dev_keys)]
    portal = ["--portal-url", portal_mock.portal_url]

    first = runner.invoke(sync, ["run", *common, *portal, "--once"])
    assert first.exit_code == 0, first.output
    assert "delivered 24" in first.output
    pending, logged = asyncio.run(_pending_and_logged(store_url))
    assert pending == 0
    if "message_log" in metadata.tables:
        assert logged > 0  # lookups, creates and pushes were recorded
    assert_portal_has_exactly(portal_mock, range(1, 7), 3)

    portal_mock.admin.delete("/_admin/portal/dossiers").raise_for_status()
    dry = runner.invoke(sync, ["reconcile", *common, *portal, "--dry-run", "--no-message-log"])
    assert dry.exit_code == 0, dry.output
    assert "6 missing" in dry.output
    assert "0 deliveries enqueued" in dry.output

    fixed = runner.invoke(sync, ["reconcile", *common, *portal, "--no-message-log"])
    assert fixed.exit_code == 0, fixed.output
    assert "checked 6: 0 in sync, 6 missing" in fixed.output
    again = runner.invoke(sync, ["run", *common, *portal, "--once", "--no-message-log"])
    assert again.exit_code == 0, again.output
    assert_portal_has_exactly(portal_mock, range(1, 7), 3)
    assert portal_mock.held(make_dossier(1).code) is not None


def test_run_refuses_a_missing_key_folder(store_url: str, tmp_path: Path) -> None:
    """Without the key folder the worker does not start, and says why."""
    result = CliRunner().invoke(
        sync, ["run", "--database-url", store_url, "--keys", str(tmp_path / "none"), "--once"]
    )
    assert result.exit_code != 0
    assert "key folder" in result.output
