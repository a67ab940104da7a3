"""`lienthong notify status|dead-letters|retry` on a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import update

from lienthong.notify_cli import notify
from push.webhooks.subscriptions import SqlSubscriptions
from store.db import create_engine, normalize_url, upgrade
from store.tables.push import push_deliveries, push_notices
from tests.support.push import record_lifecycles


def _store(tmp_path: Path) -> str:
    data = tmp_path / "data"
    url = normalize_url(data)
    upgrade(url)

    async def fill() -> None:
        engine = create_engine(url)
        try:
            hook = "http://127.0.0.1:9/hooks"
            await SqlSubscriptions(engine).create(
                "ministry", hook, allowed_urls={hook}, visible_sectors={"TP"}
            )
            await record_lifecycles(engine, range(1, 3), steps=1)
            async with engine.begin() as connection:
                await connection.execute(
                    update(push_deliveries)
                    .where(push_deliveries.c.id == 1)
                    .values(state="dead", last_error="HTTP 500")
                )
                await connection.execute(
                    update(push_notices)
                    .where(push_notices.c.id == 1)
                    .values(state="dead", channel="sms", last_error="sms: error 108")
                )
        finally:
            await engine.dispose()

    asyncio.run(fill())
    return str(data)


def test_status_dead_letters_and_retry(tmp_path: Path) -> None:
    """Counts by state, both kinds of dead letters, and a retry that requeues one."""
    data = _store(tmp_path)
    runner = CliRunner()
    status = runner.invoke(notify, ["status", "--data", data])
    assert status.exit_code == 0, status.output
    assert "pending      3" in status.output
    assert "dead         1" in status.output
    assert "dead         1 (sms 1)" in status.output
    letters = runner.invoke(notify, ["dead-letters", "--data", data])
    assert letters.exit_code == 0
    lines = letters.stdout.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [["webhook", "1"], ["notice", "1"]]
    assert lines[1] == "notice\t1\t-\taccepted by sms\tattempts=0\tsms: error 108"
    retried = runner.invoke(notify, ["retry", "webhook", "1", "--data", data])
    assert retried.exit_code == 0, retried.output
    again = runner.invoke(notify, ["retry", "webhook", "1", "--data", data])
    assert again.exit_code == 1
    assert again.output.strip().splitlines()[-1] == "Error: no dead webhook delivery 1"
    notices = runner.invoke(notify, ["retry", "notice", "--all", "--data", data])
    assert "1 notice dead letter(s) queued again" in notices.output
    both = runner.invoke(notify, ["retry", "notice", "1", "--all", "--data", data])
    assert both.exit_code == 2
