"""``lienthong log``: verify (exit 0 only when intact, one line naming the break), export, purge."""

from __future__ import annotations

import asyncio
import datetime as dt
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from connectors.exchange import Exchange
from lienthong.cli import main
from store.log_keys import message_log_key
from store.message_log import BodyCipher, SqlMessageLog
from store.tables.message_log import message_log
from tests.support.message_log import log_engine, make_soap_exchange


def _fill(data: Path, keys: Path, exchanges: list[Exchange]) -> None:
    async def work() -> None:
        async with log_engine(data) as engine:
            log = SqlMessageLog(engine, BodyCipher(message_log_key(keys)))
            for exchange in exchanges:
                await log.record(exchange)

    asyncio.run(work())


def _tamper(data: Path, seq: int) -> None:
    async def work() -> None:
        from store.db import create_engine

        engine = create_engine(data)
        async with engine.begin() as conn:
            await conn.execute(
                update(message_log).where(message_log.c.seq == seq).values(operation="Other")
            )
        await engine.dispose()

    asyncio.run(work())


def _log(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["log", *args])
    return result.exit_code, result.output


@pytest.fixture
def filled(tmp_path: Path, dev_keys: Path) -> tuple[Path, list[Exchange]]:
    exchanges = [make_soap_exchange(dev_keys) for _ in range(3)]
    _fill(tmp_path / "data", dev_keys, exchanges)
    return tmp_path / "data", exchanges


def test_verify_exits_zero_on_an_intact_log(
    filled: tuple[Path, list[Exchange]], dev_keys: Path
) -> None:
    """An intact log: exit 0 and one OK line counting bodies and signatures."""
    data, _ = filled
    code, output = _log("verify", "--data", str(data), "--keys", str(dev_keys))
    assert code == 0, output
    assert output.startswith("OK: 3 records, chain intact up to record 3")
    assert "6 signatures verified" in output
    assert len(output.strip().splitlines()) == 1


def test_verify_names_the_first_broken_record_and_exits_one(
    filled: tuple[Path, list[Exchange]], dev_keys: Path
) -> None:
    """A tampered record: exit 1 and one line with its seq, message id and what is wrong."""
    data, exchanges = filled
    _tamper(data, 2)
    code, output = _log("verify", "--data", str(data), "--keys", str(dev_keys))
    assert code == 1
    assert output.strip() == (
        f"BROKEN at record 2 (message {exchanges[1].message_id}): its contents do not match "
        "its digest (record altered) [record_altered]"
    )


def test_verify_without_keys_checks_the_chain(
    filled: tuple[Path, list[Exchange]], tmp_path: Path
) -> None:
    """With no key folder the chain is still checked, and the line says bodies were not."""
    data, _ = filled
    code, output = _log("verify", "--data", str(data), "--keys", str(tmp_path / "none"))
    assert code == 0, output
    assert "bodies not checked" in output


def test_head_and_expect_head(filled: tuple[Path, list[Exchange]]) -> None:
    """``head`` prints SEQ:DIGEST; verify passes with it and fails with a head never written."""
    data, _ = filled
    code, head = _log("head", "--data", str(data))
    assert code == 0
    seq, digest = head.strip().split(":")
    assert (seq, len(digest)) == ("3", 64)
    assert (
        _log("verify", "--chain-only", "--data", str(data), "--expect-head", head.strip())[0] == 0
    )
    code, output = _log(
        "verify", "--chain-only", "--data", str(data), "--expect-head", "2:" + "0" * 64
    )
    assert code == 1
    assert "[anchor_mismatch]" in output


def test_export_writes_a_bundle(
    filled: tuple[Path, list[Exchange]], dev_keys: Path, tmp_path: Path
) -> None:
    """``export MESSAGE_ID --out`` writes the zip with the envelopes and the CA."""
    data, exchanges = filled
    out = tmp_path / "evidence.zip"
    code, output = _log(
        "export",
        exchanges[0].message_id,
        "--out",
        str(out),
        "--data",
        str(data),
        "--keys",
        str(dev_keys),
    )
    assert code == 0, output
    assert "record 1" in output
    names = set(zipfile.ZipFile(out).namelist())
    assert {"request.xml", "response.xml", "ca.pem", "manifest.json", "README.txt"} <= names


def test_export_of_an_unknown_message_fails(
    filled: tuple[Path, list[Exchange]], dev_keys: Path
) -> None:
    """An unknown message id: exit 1 with a readable error."""
    data, _ = filled
    code, output = _log("export", "nope", "--data", str(data), "--keys", str(dev_keys))
    assert code == 1
    assert "no message log record has message id 'nope'" in output


def test_purge_keeps_the_log_verifiable(tmp_path: Path, dev_keys: Path) -> None:
    """``purge --older-than 30`` drops the old body only; verify still exits 0."""
    old = make_soap_exchange(dev_keys, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=31))
    _fill(tmp_path / "data", dev_keys, [old, make_soap_exchange(dev_keys)])
    code, output = _log("purge", "--older-than", "30", "--data", str(tmp_path / "data"))
    assert (code, output.strip()) == (0, "purged the bodies of 1 records older than 30 days")
    code, output = _log("verify", "--data", str(tmp_path / "data"), "--keys", str(dev_keys))
    assert code == 0, output
    assert "1 records purged" in output


def test_verify_on_a_database_without_the_log_explains(tmp_path: Path) -> None:
    """No database: exit 1, nothing created; a database never migrated: a hint to migrate."""
    code, output = _log("verify", "--data", str(tmp_path / "none"), "--keys", str(tmp_path))
    assert code == 1
    assert "no database in" in output
    assert not (tmp_path / "none").exists()

    async def empty_database() -> None:
        from store.db import create_engine

        engine = create_engine(tmp_path / "empty")
        async with engine.connect() as conn:
            await conn.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
        await engine.dispose()

    asyncio.run(empty_database())
    code, output = _log("verify", "--data", str(tmp_path / "empty"), "--keys", str(tmp_path))
    assert code == 1
    assert "lienthong db upgrade" in output
