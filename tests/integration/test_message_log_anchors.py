"""The log cannot be quietly cut or rewritten: anchors (RFC 3161) and authenticated purges.

The chain is time-stamped by the sandbox TSA (the mock's ``POST /tsa`` over loopback). Each
tampering an insider with write access to the database could try is found by ``verify_log`` and
located at the first record it touched: a faked purge (bodies nulled, ``purged_at`` set on a
fresh record, with or without a made-up marker), a cut tail with the head moved back to match, a
chain rewritten from one record on and re-sealed to the end, an anchor altered or removed, and
the newest anchors removed with the tail (found by their age). An exported bundle carries the
token that covers its record and passes ``openssl ts -verify``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from lienthong.log_cli import log as log_group
from mock_endpoints.app import create_mock_app
from mock_endpoints.settings import MockSettings
from security.trust import TrustStore
from security.tsa_client import TsaClient
from store.log_keys import message_log_key
from store.message_log import BodyCipher, SqlMessageLog, purge_bodies, verify_log
from store.message_log.anchors import AnchorService, anchor_log
from store.message_log.bundle import export_bundle
from store.message_log.records import record_from_row
from store.tables.message_log import message_log, message_log_anchors, message_log_head
from tests.support.message_log import (  # noqa: F401 - the db_url and engine fixtures
    log_db_url,
    log_engine_on_both,
    make_soap_exchange,
)
from tests.support.servers import serve_app

DAYS = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def tsa_url(dev_keys: Path) -> Iterator[str]:
    """The mock endpoints (with ``/tsa``) on a free loopback port."""
    with serve_app(create_mock_app(MockSettings(keys_dir=dev_keys, citizens=1))) as base:
        yield f"{base}/tsa"


@pytest.fixture
def trust(dev_keys: Path) -> TrustStore:
    return TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")


@pytest.fixture
def cipher(dev_keys: Path) -> BodyCipher:
    return BodyCipher(message_log_key(dev_keys))


async def _fill(engine: AsyncEngine, cipher: BodyCipher, keys: Path, count: int) -> list[str]:
    log = SqlMessageLog(engine, cipher)
    exchanges = [make_soap_exchange(keys) for _ in range(count)]
    for exchange in exchanges:
        await log.record(exchange)
    return [exchange.message_id for exchange in exchanges]


async def _digest(engine: AsyncEngine, seq: int) -> str:
    async with engine.connect() as conn:
        found = await conn.execute(select(message_log.c.digest).where(message_log.c.seq == seq))
        return str(found.scalar_one())


async def _execute(engine: AsyncEngine, *statements: object) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)  # type: ignore[call-overload]


async def _anchored(
    engine: AsyncEngine, cipher: BodyCipher, keys: Path, stamper: TsaClient
) -> list[str]:
    """Six records under two anchors (1..4, then 5..6)."""
    ids = await _fill(engine, cipher, keys, 4)
    assert [a.covers for a in await anchor_log(engine, stamper)] == [range(1, 5)]
    ids += await _fill(engine, cipher, keys, 2)
    assert [a.covers for a in await anchor_log(engine, stamper)] == [range(5, 7)]
    return ids


async def test_anchors_verify_and_a_bundle_carries_the_token_that_covers_it(
    engine: AsyncEngine,
    cipher: BodyCipher,
    dev_keys: Path,
    trust: TrustStore,
    tsa_url: str,
    tmp_path: Path,
) -> None:
    """Intact: verify names the anchors; a heartbeat anchors the unchanged head; the bundle of
    an anchored record passes ``openssl ts -verify`` and the membership check, and one of a
    record not yet anchored says so."""
    stamper = TsaClient(tsa_url, trust)
    ids = await _anchored(engine, cipher, dev_keys, stamper)
    (beat,) = await anchor_log(engine, stamper)
    assert (len(beat.covers), beat.last_seq) == (0, 6)
    late = await _fill(engine, cipher, dev_keys, 1)
    report = await verify_log(engine, cipher=cipher, trust=trust, tsa_trust=trust)
    assert report.intact, report.line()
    assert (report.anchors, report.anchored_seq) == (3, 6)
    assert "records 7..7 not yet anchored" in report.line()

    ca = (dev_keys / "ca" / "cert.pem").read_bytes()
    bundle = await export_bundle(engine, ids[4], tmp_path / "b.zip", cipher=cipher, ca_pem=ca)
    folder = tmp_path / "b"
    with zipfile.ZipFile(bundle.path) as archive:
        archive.extractall(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["anchor"]["records"] == [5, 6]
    tools = []
    for check in manifest["checks"]:
        run = subprocess.run(check["argv"], cwd=folder, capture_output=True, check=False)
        assert run.returncode == 0, (check["what"], run.stderr)
        tools.append(check["argv"][:2])
    assert ["openssl", "ts"] in tools
    assert ["grep", "-qxF"] in tools
    # the token is over anchor.txt: another text fails openssl
    (folder / "anchor.txt").write_bytes((folder / "anchor.txt").read_bytes() + b"x")
    ts_check = next(c["argv"] for c in manifest["checks"] if c["argv"][:2] == ["openssl", "ts"])
    assert subprocess.run(ts_check, cwd=folder, capture_output=True).returncode != 0

    unanchored = await export_bundle(engine, late[0], tmp_path / "u.zip", cipher=cipher, ca_pem=ca)
    with zipfile.ZipFile(unanchored.path) as archive:
        assert "anchor.tst" not in archive.namelist()
        assert "not yet anchored" in archive.read("README.txt").decode()


async def test_a_cut_tail_with_the_head_moved_back_is_found_at_the_first_cut_record(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore, tsa_url: str
) -> None:
    """Records 5 and 6 deleted and the head set to record 4: the chain alone is consistent,
    the anchor that stamped 5..6 shows the cut, at record 5."""
    await _anchored(engine, cipher, dev_keys, TsaClient(tsa_url, trust))
    async with engine.connect() as conn:
        four = (
            await conn.execute(select(message_log.c.digest).where(message_log.c.seq == 4))
        ).one()
    await _execute(
        engine,
        delete(message_log).where(message_log.c.seq > 4),
        update(message_log_head).values(seq=4, digest=four.digest),
    )
    report = await verify_log(engine, cipher=cipher, tsa_trust=trust)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (5, "anchored_record_missing")
    # without its anchors the cut would pass: the anchors are what finds it
    await _execute(engine, delete(message_log_anchors))
    assert (await verify_log(engine, cipher=cipher)).intact


async def test_the_newest_anchors_removed_with_the_tail_are_found_by_their_age(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore, tsa_url: str
) -> None:
    """Cutting records 5..6 and their anchor leaves the older anchor as the newest: older than
    the anchoring period allows, it is a break."""
    await _anchored(engine, cipher, dev_keys, TsaClient(tsa_url, trust))
    async with engine.connect() as conn:
        four = (
            await conn.execute(select(message_log.c.digest).where(message_log.c.seq == 4))
        ).one()
        newest = (
            await conn.execute(
                select(message_log_anchors.c.id).order_by(message_log_anchors.c.id.desc())
            )
        ).first()
    assert newest is not None
    await _execute(
        engine,
        delete(message_log).where(message_log.c.seq > 4),
        update(message_log_head).values(seq=4, digest=four.digest),
        delete(message_log_anchors).where(message_log_anchors.c.id == newest.id),
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    report = await verify_log(
        engine, tsa_trust=trust, max_anchor_age=dt.timedelta(minutes=2), now=later
    )
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (5, "anchor_stale")
    assert (await verify_log(engine, tsa_trust=trust)).intact


async def test_a_chain_rewritten_from_a_record_on_is_found_at_that_record(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore, tsa_url: str
) -> None:
    """Record 3's dossier changed and records 3..6 re-sealed with the head moved to match: every
    digest and link holds, the anchor over 1..4 shows the rewrite at record 3."""
    await _anchored(engine, cipher, dev_keys, TsaClient(tsa_url, trust))
    async with engine.connect() as conn:
        rows = (await conn.execute(select(message_log).order_by(message_log.c.seq))).all()
    prev = rows[1].digest
    statements: list[object] = []
    for row in rows[2:]:
        sealed = record_from_row(row).sealed
        sealed = replace(sealed, prev_digest=prev)
        if sealed.seq == 3:
            sealed = replace(sealed, issue="000.00.04.H04-261126-9999")
        prev = sealed.digest()
        statements.append(
            update(message_log)
            .where(message_log.c.seq == sealed.seq)
            .values(issue=sealed.issue, prev_digest=sealed.prev_digest, digest=prev)
        )
    statements.append(update(message_log_head).values(seq=6, digest=prev))
    await _execute(engine, *statements)
    report = await verify_log(engine, cipher=cipher, tsa_trust=trust)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (3, "anchored_record_rewritten")
    assert report.records == 6, "the chain itself was consistent"


async def test_an_altered_or_removed_anchor_is_found(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore, tsa_url: str
) -> None:
    """An anchor's text changed no longer matches its token; an anchor removed from the middle
    breaks the anchors' own chain."""
    await _anchored(engine, cipher, dev_keys, TsaClient(tsa_url, trust))
    async with engine.connect() as conn:
        first = (
            await conn.execute(select(message_log_anchors).order_by(message_log_anchors.c.id))
        ).first()
    assert first is not None
    lines = first.data.split(b"\n")
    assert lines[3].startswith(b"record 2 ")
    lines[3] = lines[3][:-1] + (b"0" if lines[3][-1:] != b"0" else b"1")
    await _execute(
        engine,
        update(message_log_anchors)
        .where(message_log_anchors.c.id == first.id)
        .values(data=b"\n".join(lines)),
    )
    report = await verify_log(engine, tsa_trust=trust)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (1, "anchor_altered")
    await _execute(engine, delete(message_log_anchors).where(message_log_anchors.c.id == first.id))
    report = await verify_log(engine, tsa_trust=trust)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (5, "anchor_missing")


async def test_a_faked_purge_is_a_break(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Bodies nulled and ``purged_at`` set on a one-minute-old record: no marker, a break at
    that record. With a made-up marker (period 0, any MAC): too early for the retention period,
    and not authenticated by the log's key. Bodies gone without a purge at all: a break too."""
    await _fill(engine, cipher, dev_keys, 3)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    wipe = {"request_wire": None, "response_wire": None}
    await _execute(
        engine, update(message_log).where(message_log.c.seq == 2).values(purged_at=now, **wipe)
    )
    for key in (None, cipher):
        report = await verify_log(engine, cipher=key)
        assert report.first_break is not None
        assert (report.first_break.seq, report.first_break.problem) == (
            2,
            "purge_unauthenticated",
        )
    await _execute(
        engine,
        update(message_log)
        .where(message_log.c.seq == 2)
        .values(purge_retention_days=0, purge_mac="0" * 64),
    )
    report = await verify_log(engine, min_retention=dt.timedelta(days=30))
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (2, "purge_too_early")
    report = await verify_log(engine, cipher=cipher)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (2, "purge_unauthenticated")
    await _execute(engine, update(message_log).where(message_log.c.seq == 3).values(**wipe))
    await _execute(engine, update(message_log).where(message_log.c.seq == 2).values(purged_at=None))
    report = await verify_log(engine)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (2, "bodies_missing")


async def test_a_real_purge_after_the_retention_period_verifies(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """A purge by ``purge_bodies`` (with the key) holds against the same minimum period, and a
    marker moved to another record does not."""
    log = SqlMessageLog(engine, cipher)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    await log.record(make_soap_exchange(dev_keys, at=old))
    await log.record(make_soap_exchange(dev_keys, at=old))
    await log.record(make_soap_exchange(dev_keys))
    assert await purge_bodies(engine, older_than=dt.timedelta(days=30), cipher=cipher) == 2
    report = await verify_log(engine, cipher=cipher, min_retention=dt.timedelta(days=30))
    assert report.intact, report.line()
    assert report.purged == 2
    report = await verify_log(engine, cipher=cipher, min_retention=dt.timedelta(days=31))
    assert report.first_break is not None
    assert report.first_break.problem == "purge_too_early"
    async with engine.connect() as conn:
        mac = (
            await conn.execute(select(message_log.c.purge_mac).where(message_log.c.seq == 1))
        ).scalar()
    await _execute(engine, update(message_log).where(message_log.c.seq == 2).values(purge_mac=mac))
    report = await verify_log(engine, cipher=cipher)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (2, "purge_unauthenticated")


def test_log_anchor_and_verify_on_the_command_line(
    dev_keys: Path, tsa_url: str, tmp_path: Path
) -> None:
    """``log anchor`` stamps the records; ``verify`` names the anchors and, after the tail is
    cut and the head moved back, exits 1 naming the first cut record."""
    import asyncio

    from store.db import create_engine
    from tests.support.message_log import log_engine

    data = tmp_path / "data"

    async def fill() -> None:
        async with log_engine(data) as engine:
            await _fill(engine, BodyCipher(message_log_key(dev_keys)), dev_keys, 3)

    asyncio.run(fill())
    runner = CliRunner()
    common = ["--data", str(data), "--keys", str(dev_keys)]
    anchored = runner.invoke(log_group, ["anchor", "--tsa-url", tsa_url, *common])
    assert anchored.exit_code == 0, anchored.output
    assert "anchored 3 records up to record 3" in anchored.output
    verified = runner.invoke(log_group, ["verify", *common])
    assert verified.exit_code == 0, verified.output
    assert "1 anchors, time-stamped up to record 3" in verified.output

    async def cut() -> None:
        engine = create_engine(data)
        try:
            async with engine.connect() as conn:
                two = (
                    await conn.execute(select(message_log.c.digest).where(message_log.c.seq == 2))
                ).one()
            await _execute(
                engine,
                delete(message_log).where(message_log.c.seq == 3),
                update(message_log_head).values(seq=2, digest=two.digest),
            )
        finally:
            await engine.dispose()

    asyncio.run(cut())
    broken = runner.invoke(log_group, ["verify", *common])
    assert broken.exit_code == 1
    assert broken.stdout.startswith("BROKEN at record 3")
    assert "[anchored_record_missing]" in broken.output
    missing = runner.invoke(
        log_group, ["anchor", *common], env={"LIENTHONG_LOG_ANCHOR_TSA_URL": ""}
    )
    assert missing.exit_code == 1
    assert "no time-stamping authority" in missing.output


async def test_the_adapter_service_anchors_periodically(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore, tsa_url: str
) -> None:
    """Started with a short interval, the service anchors the records written meanwhile."""
    import asyncio

    await _fill(engine, cipher, dev_keys, 2)
    service = AnchorService(engine, TsaClient(tsa_url, trust), interval=0.05)
    await service.start()
    try:
        for _ in range(200):
            if service.runs >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await service.stop()
    assert service.runs >= 2
    assert service.failures == 0
    report = await verify_log(engine, tsa_trust=trust)
    assert report.intact, report.line()
    assert report.anchored_seq == 2
