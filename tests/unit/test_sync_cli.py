"""`lienthong sync status | dead-letters | retry` over a real store."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from lienthong.sync_cli import sync
from store.db import create_engine, create_sessionmaker
from store.dossiers import record_dossier, record_event
from store.outbox import Outcome, SqlOutbox
from tests.support.stores import LIFECYCLE, make_dossier, make_event


async def _queue_with_one_dead_letter(url: str) -> int:
    engine = create_engine(url)
    try:
        sessions = create_sessionmaker(engine)
        for serial in (1, 2):
            async with sessions() as session, session.begin():
                await record_dossier(session, make_dossier(serial))
                await record_event(session, make_event(serial, 1, LIFECYCLE[0]))
        outbox = SqlOutbox(engine)
        claims = {c.dossier_code: c for c in await outbox.claim("cli-test")}
        bad = claims[make_dossier(1).code]
        await outbox.settle(
            [
                Outcome(bad, failed=bad.items[0].id, error="UpstreamRejected [1]: refused"),
                Outcome(claims[make_dossier(2).code], ()),
            ]
        )
        return bad.items[0].id
    finally:
        await engine.dispose()


def test_status_dead_letters_and_retry(store_url: str) -> None:
    """The operator sees depth and the dead letter with its error, retries it, and it is pending."""
    dead_id = asyncio.run(_queue_with_one_dead_letter(store_url))
    runner = CliRunner()
    db = ["--database-url", store_url]

    status = runner.invoke(sync, ["status", *db, "--json"])
    assert status.exit_code == 0, status.output
    figures = json.loads(status.output)
    assert (figures["pending"], figures["dead"], figures["delivered"]) == (3, 1, 0)
    assert figures["oldest_pending_age_seconds"] >= 0

    text = runner.invoke(sync, ["status", *db])
    assert "dead          1" in text.output

    letters = runner.invoke(sync, ["dead-letters", *db])
    assert letters.exit_code == 0
    assert make_dossier(1).code in letters.output
    assert "UpstreamRejected [1]: refused" in letters.output

    missing = runner.invoke(sync, ["retry", *db, str(dead_id + 1000)])
    assert missing.exit_code != 0
    assert "no dead outbox item" in missing.output
    bad_usage = runner.invoke(sync, ["retry", *db])
    assert bad_usage.exit_code == 2

    retried = runner.invoke(sync, ["retry", *db, str(dead_id)])
    assert retried.exit_code == 0, retried.output
    after = json.loads(runner.invoke(sync, ["status", *db, "--json"]).output)
    assert (after["pending"], after["dead"]) == (4, 0)
    none_left = runner.invoke(sync, ["dead-letters", *db, "--json"])
    assert json.loads(none_left.output) == []
    assert "0 dead letters" in runner.invoke(sync, ["retry", *db, "--all"]).output
