"""Access-log key rotation with the adapter running, over HTTP: the running adapter keeps the
ring it loaded at start, a restart picks up the rotation, and the access log still lists the
lookups made under the retired key."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from lienthong.cli import main
from store.db import create_engine
from store.log_keys import access_log_key, key_id
from store.tables.access_log import access_log
from tests.e2e.api_harness import OFFICIAL, Sandbox, register_dossier, running_sandbox


def _lookup(sandbox: Sandbox, client: httpx.Client, citizen_id: str, issue: str, n: int) -> None:
    response = client.get(
        f"/v1/citizens/{citizen_id}",
        headers={"X-User-Id": OFFICIAL, "X-Issue": issue, "X-Request-Id": f"rotation-{n}"},
    )
    assert response.status_code == 200, response.text


def _logged(sandbox: Sandbox, citizen_id: str) -> list[str]:
    with sandbox.client("province-app") as client:
        answer = client.get(f"/v1/access-log/{citizen_id}")
    assert answer.status_code == 200, answer.text
    return [entry["request_id"] for entry in answer.json()["entries"]]


def _key_ids(data: Path) -> dict[str, str | None]:
    async def read() -> dict[str, str | None]:
        engine = create_engine(data)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(access_log.c.request_id, access_log.c.key_id))
                return {row.request_id: row.key_id for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.mark.slow
def test_a_restart_picks_up_a_rotation_and_keeps_the_old_rows_findable(
    tmp_path: Path, dev_keys: Path
) -> None:
    """A lookup, a rotation while the adapter runs (its next lookup still uses the key it
    loaded, and says so), then a restart: the new adapter writes under the new key and lists
    all three lookups, the ones made under the retired key included."""
    keys = tmp_path / "keys"
    shutil.copytree(dev_keys, keys)
    first_key = access_log_key(keys)
    with running_sandbox(tmp_path, keys, run_worker=False) as sandbox:
        citizen = sandbox.citizens(1)[0]["citizen_id"]
        with sandbox.client("province-app") as client:
            issue = register_dossier(client)
            _lookup(sandbox, client, citizen, issue, 1)
            rotated = CliRunner().invoke(main, ["log", "rotate-access-key", "--keys", str(keys)])
            assert rotated.exit_code == 0, rotated.output
            _lookup(sandbox, client, citizen, issue, 2)
        assert _logged(sandbox, citizen) == ["rotation-2", "rotation-1"]
    new_id = key_id((keys / "adapter" / "accesslog.key").read_bytes())
    assert new_id != key_id(first_key)
    assert f"new key {new_id}" in rotated.output

    with running_sandbox(tmp_path, keys, run_worker=False) as restarted:
        with restarted.client("province-app") as client:
            _lookup(restarted, client, citizen, issue, 3)
        assert _logged(restarted, citizen) == ["rotation-3", "rotation-2", "rotation-1"]
    ids = _key_ids(tmp_path / "data")
    assert (ids["rotation-1"], ids["rotation-2"], ids["rotation-3"]) == (
        key_id(first_key),
        key_id(first_key),
        new_id,
    )
