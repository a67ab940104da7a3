"""The message log on the real store (SQLite and PostgreSQL): appends, the chain, tampering.

Every kind of damage — a record altered, deleted, two reordered, the tail cut, a body moved, a
message forged and resealed by someone holding the body key — is found by ``verify_log`` and
located: the first broken record is named by its sequence number and message id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.exchange import Exchange
from security.trust import TrustStore
from store.db import create_engine
from store.log_keys import message_log_key
from store.message_log import (
    BodyCipher,
    KeyFolderCertificates,
    MessageLogError,
    SqlMessageLog,
    StoredRecord,
    purge_bodies,
    verify_log,
)
from store.message_log.chain import GENESIS, sha256_hex
from store.message_log.records import record_at
from store.message_log.wire import body_of
from store.tables.message_log import message_log, message_log_head
from tests.support.message_log import (  # noqa: F401 - the db_url and engine fixtures
    log_db_url,
    log_engine_on_both,
    make_rest_exchange,
    make_soap_exchange,
)


@pytest.fixture
def cipher(dev_keys: Path) -> BodyCipher:
    return BodyCipher(message_log_key(dev_keys))


@pytest.fixture
def trust(dev_keys: Path) -> TrustStore:
    return TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")


async def _fill(
    engine: AsyncEngine, cipher: BodyCipher, keys: Path, count: int = 5
) -> list[Exchange]:
    log = SqlMessageLog(engine, cipher)
    exchanges = [make_soap_exchange(keys) for _ in range(count)]
    for exchange in exchanges:
        await log.record(exchange)
    return exchanges


async def _execute(engine: AsyncEngine, *statements: object) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)  # type: ignore[call-overload]


async def test_appends_are_numbered_and_chained(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore
) -> None:
    """Records get seq 1, 2, 3; each seals the digest before it; the head names the last."""
    exchanges = await _fill(engine, cipher, dev_keys, 3)
    async with engine.connect() as conn:
        records = [await record_at(conn, seq) for seq in (1, 2, 3)]
        head = (await conn.execute(select(message_log_head))).one()
    assert [r.message_id for r in records if r] == [e.message_id for e in exchanges]
    assert records[0] is not None
    assert records[0].sealed.prev_digest == GENESIS
    for before, after in itertools.pairwise(records):
        assert before is not None
        assert after is not None
        assert after.sealed.prev_digest == before.digest
    assert records[2] is not None
    assert (head.seq, head.digest) == (3, records[2].digest)
    report = await verify_log(engine, cipher=cipher, trust=trust)
    assert report.intact, report.line()
    assert (report.records, report.bodies_checked, report.signatures_checked) == (3, 6, 6)


async def test_bodies_are_encrypted_at_rest(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Neither the citizen ID nor the envelope appear in the stored row; the key id does."""
    await _fill(engine, cipher, dev_keys, 1)
    async with engine.connect() as conn:
        row = (await conn.execute(select(message_log))).one()
    for blob in (row.request_wire, row.response_wire):
        assert b"001190000007" not in blob
        assert b"Envelope" not in blob
    assert row.body_key_id == cipher.key_id
    assert row.endpoint == "http://127.0.0.1:9/population/soap"


async def test_concurrent_writers_never_fork_the_chain(
    db_url: str, engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Two writers on two engines (two processes' worth), 20 appends each at once: one chain."""
    other = create_engine(db_url)
    try:
        logs = [SqlMessageLog(engine, cipher), SqlMessageLog(other, cipher, max_batch=3)]
        exchanges = [make_soap_exchange(dev_keys) for _ in range(40)]
        seqs = await asyncio.gather(
            *(logs[i % 2].append(exchange) for i, exchange in enumerate(exchanges))
        )
    finally:
        await other.dispose()
    assert sorted(seqs) == list(range(1, 41))
    report = await verify_log(engine, cipher=cipher)
    assert report.intact, report.line()
    assert report.records == 40


async def test_an_altered_record_is_found_and_named(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Changing the official of record 3 breaks the chain at record 3 (with its message id)."""
    exchanges = await _fill(engine, cipher, dev_keys)
    await _execute(
        engine, update(message_log).where(message_log.c.seq == 3).values(user_id="VN000000000000")
    )
    report = await verify_log(engine)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (3, "record_altered")
    assert report.first_break.message_id == exchanges[2].message_id
    assert f"record 3 (message {exchanges[2].message_id})" in report.line()


async def test_a_deleted_record_is_found_and_named(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Deleting record 3 is reported at record 4, saying record 3 is missing."""
    exchanges = await _fill(engine, cipher, dev_keys)
    await _execute(engine, delete(message_log).where(message_log.c.seq == 3))
    report = await verify_log(engine, cipher=cipher)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (4, "records_deleted")
    assert report.first_break.message_id == exchanges[3].message_id
    assert "record 3 is missing" in report.first_break.detail


async def test_two_reordered_records_are_found_and_named(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Swapping records 2 and 3 is reported at record 2: it was sealed as record 3."""
    exchanges = await _fill(engine, cipher, dev_keys)
    await _execute(
        engine,
        update(message_log).where(message_log.c.seq == 2).values(seq=-2),
        update(message_log).where(message_log.c.seq == 3).values(seq=2),
        update(message_log).where(message_log.c.seq == -2).values(seq=3),
    )
    report = await verify_log(engine)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (2, "records_reordered")
    assert report.first_break.message_id == exchanges[2].message_id
    assert "sealed as record 3" in report.first_break.detail


async def test_a_deletion_hidden_by_renumbering_is_found(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Deleting record 3 and renumbering 4, 5 (head included) still shows, at record 3."""
    exchanges = await _fill(engine, cipher, dev_keys)
    async with engine.connect() as conn:
        last = await record_at(conn, 5)
    assert last is not None
    await _execute(
        engine,
        delete(message_log).where(message_log.c.seq == 3),
        update(message_log).where(message_log.c.seq == 4).values(seq=3),
        update(message_log).where(message_log.c.seq == 5).values(seq=4),
        update(message_log_head).values(seq=4),
    )
    report = await verify_log(engine)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (3, "records_reordered")
    assert report.first_break.message_id == exchanges[3].message_id
    assert "is gone" in report.first_break.detail


async def test_a_deleted_tail_is_found(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Deleting the last two records leaves a chain that is whole, but the head names record 5."""
    await _fill(engine, cipher, dev_keys)
    await _execute(engine, delete(message_log).where(message_log.c.seq >= 4))
    report = await verify_log(engine)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (4, "tail_deleted")
    assert "records 4..5 were deleted" in report.line()


async def test_a_body_moved_to_another_record_is_found(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Copying record 1's encrypted request into record 2 fails to decrypt there."""
    await _fill(engine, cipher, dev_keys, 2)
    async with engine.connect() as conn:
        first = (await conn.execute(select(message_log.c.request_wire))).scalars().first()
    await _execute(
        engine, update(message_log).where(message_log.c.seq == 2).values(request_wire=first)
    )
    report = await verify_log(engine, cipher=cipher)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (2, "request_unreadable")


async def test_a_forged_and_resealed_message_fails_its_signature(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore
) -> None:
    """Someone holding the body key rewrites record 2's response and reseals the whole chain.

    The chain then holds; the response's signature does not, and verify names record 2.
    """
    await _fill(engine, cipher, dev_keys, 3)
    async with engine.connect() as conn:
        records = [await record_at(conn, seq) for seq in (1, 2, 3)]
    prev = GENESIS
    statements = []
    for record in records:
        assert record is not None
        sealed = replace(record.sealed, prev_digest=prev)
        values: dict[str, object] = {}
        if record.seq == 2:
            wire = record.wire("response", cipher)
            assert wire is not None
            forged = wire.replace("Nguyễn Thị An".encode(), "Trần Văn Bình".encode())
            assert forged != wire
            values["response_wire"] = cipher.encrypt(
                forged, seq=2, message_id=record.message_id, kind="response"
            )
            sealed = replace(
                sealed,
                response_sha256=sha256_hex(forged),
                response_body_sha256=sha256_hex(body_of(forged)),
            )
        prev = sealed.digest()
        values.update(
            prev_digest=sealed.prev_digest,
            digest=prev,
            response_sha256=sealed.response_sha256,
            response_body_sha256=sealed.response_body_sha256,
        )
        statements.append(
            update(message_log).where(message_log.c.seq == record.seq).values(**values)
        )
    statements.append(update(message_log_head).values(digest=prev))
    await _execute(engine, *statements)

    chain_only = await verify_log(engine, cipher=cipher)
    assert chain_only.intact, chain_only.line()
    report = await verify_log(engine, cipher=cipher, trust=trust)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (2, "bad_response_signature")
    assert "digest" in report.first_break.detail


async def test_verify_with_another_key_says_so(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Verifying bodies with a key that did not encrypt them names the key, not damage."""
    await _fill(engine, cipher, dev_keys, 1)
    report = await verify_log(engine, cipher=BodyCipher(b"\x01" * 32))
    assert report.first_break is not None
    assert report.first_break.problem == "other_key"
    assert cipher.key_id in report.first_break.detail


async def test_exchanges_without_a_response_are_kept(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore
) -> None:
    """A timed-out call is recorded (request only) and the log still verifies."""
    log = SqlMessageLog(engine, cipher)
    await log.record(make_soap_exchange(dev_keys, with_response=False))
    await log.record(make_soap_exchange(dev_keys))
    async with engine.connect() as conn:
        first = await record_at(conn, 1)
    assert first is not None
    assert first.response_wire is None
    assert first.sealed.response_sha256 is None
    assert first.sealed.outcome == "UpstreamTimeout"
    report = await verify_log(engine, cipher=cipher, trust=trust)
    assert report.intact, report.line()
    assert report.signatures_checked == 3


async def test_purge_drops_old_bodies_and_keeps_the_chain(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore
) -> None:
    """Bodies older than the retention period are gone; the chain and the newer ones verify."""
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    log = SqlMessageLog(engine, cipher)
    await log.record(make_soap_exchange(dev_keys, at=old))
    await log.record(make_soap_exchange(dev_keys, at=old + dt.timedelta(minutes=1)))
    await log.record(make_soap_exchange(dev_keys))
    assert await purge_bodies(engine, older_than=dt.timedelta(days=365), cipher=cipher) == 2
    assert await purge_bodies(engine, older_than=dt.timedelta(days=365), cipher=cipher) == 0
    async with engine.connect() as conn:
        rows = (await conn.execute(select(message_log).order_by(message_log.c.seq))).all()
    assert [r.request_wire is None for r in rows] == [True, True, False]
    assert [r.purged_at is not None for r in rows] == [True, True, False]
    report = await verify_log(engine, cipher=cipher, trust=trust)
    assert report.intact, report.line()
    assert (report.records, report.purged, report.signatures_checked) == (3, 2, 2)


async def test_a_failing_store_fails_the_recording_call(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """When the log cannot be written the caller gets a MessageLogError (the call fails)."""
    log = SqlMessageLog(engine, cipher)
    await _fill(engine, cipher, dev_keys, 1)
    await _execute(engine, delete(message_log_head))
    with pytest.raises(MessageLogError, match="head row is missing"):
        await log.record(make_soap_exchange(dev_keys))
    report = await verify_log(engine)
    assert report.first_break is not None
    assert report.first_break.problem == "head_missing"


async def test_stored_record_reads_back_the_wire_messages(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """The stored request is the signed envelope as sent, under its headers."""
    (exchange,) = await _fill(engine, cipher, dev_keys, 1)
    async with engine.connect() as conn:
        record = await record_at(conn, 1)
    assert isinstance(record, StoredRecord)
    wire = record.wire("request", cipher)
    assert wire is not None
    assert wire.endswith(exchange.request)
    assert wire.startswith(b"POST http://127.0.0.1:9/population/soap HTTP/1.1\r\n")


async def test_a_response_that_answers_another_request_is_found(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore
) -> None:
    """A validly signed response whose requestHash is another request's is reported."""
    asked, other = make_soap_exchange(dev_keys), make_soap_exchange(dev_keys)
    await SqlMessageLog(engine, cipher).record(replace(asked, response=other.response))
    report = await verify_log(engine, cipher=cipher, trust=trust)
    assert report.first_break is not None
    assert report.first_break.problem == "bad_response_signature"
    assert "requestHash" in report.first_break.detail


async def test_rest_exchanges_keep_their_signers_and_verify(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore
) -> None:
    """RFC 9421 request and response signatures are kept (via the key folder) and re-verified."""
    log = SqlMessageLog(engine, cipher, certificates=KeyFolderCertificates(dev_keys))
    await log.record(make_rest_exchange(dev_keys))
    async with engine.connect() as conn:
        record = await record_at(conn, 1)
    assert record is not None
    assert record.sealed.request_signer is not None
    assert record.sealed.response_signer is not None
    assert record.sealed.endpoint == "http://127.0.0.1:9/portal/api"
    report = await verify_log(engine, cipher=cipher, trust=trust)
    assert report.intact, report.line()
    assert report.signatures_checked == 2


async def test_a_rest_response_that_does_not_match_its_signature_is_found(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, trust: TrustStore
) -> None:
    """A REST response whose body is not the one its signature covers is reported."""
    log = SqlMessageLog(engine, cipher, certificates=KeyFolderCertificates(dev_keys))
    await log.record(make_rest_exchange(dev_keys))
    await log.record(make_rest_exchange(dev_keys, tamper_response=True))
    report = await verify_log(engine, cipher=cipher, trust=trust)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.problem) == (2, "bad_response_signature")
    assert "digest" in report.first_break.detail


async def test_one_bad_exchange_fails_only_its_own_call(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """In a group commit, an exchange the store refuses fails alone; the others are kept."""
    log = SqlMessageLog(engine, cipher)
    good = [make_soap_exchange(dev_keys) for _ in range(5)]
    bad = replace(make_soap_exchange(dev_keys), finished_at=dt.datetime(2026, 1, 1))  # naive
    results = await asyncio.gather(
        *(log.append(exchange) for exchange in [*good[:3], bad, *good[3:]]),
        return_exceptions=True,
    )
    assert isinstance(results[3], MessageLogError)
    assert sorted(r for r in results if isinstance(r, int)) == [1, 2, 3, 4, 5]
    report = await verify_log(engine, cipher=cipher)
    assert report.intact, report.line()
    assert report.records == 5


async def test_verify_sees_one_consistent_log_while_writers_append(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Verifying during a stream of appends never reports a break (it reads one snapshot)."""
    log = SqlMessageLog(engine, cipher, max_batch=2)
    await _fill(engine, cipher, dev_keys, 3)
    exchanges = [make_soap_exchange(dev_keys) for _ in range(30)]

    async def write() -> None:
        for exchange in exchanges:
            await log.record(exchange)

    async def check() -> list[str]:
        lines = []
        for _ in range(6):
            report = await verify_log(engine)
            if not report.intact:
                lines.append(report.line())
            await asyncio.sleep(0)
        return lines

    _, broken = await asyncio.gather(write(), check())
    assert broken == []
    assert (await verify_log(engine)).records == 33
