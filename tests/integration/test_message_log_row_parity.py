"""The message log's write path stores, byte for byte, the rows the plain definitions give.

The writer lays a record's sealed document out once and binds its row as it chains it
(``store.message_log.writer``, ``SealedDocument.of``). Here the same exchanges — SOAP and REST,
answered and not, redacted, in other zones, hostile text in every free field — are written by
the writer, then their rows are rebuilt from the definitions alone (the wire encoding, the
hashes, :class:`SealedFields` encoded by ``json.dumps``, the chain from ``GENESIS``), stored with
a SQLAlchemy Core ``insert`` in place of the writer's, and both tables are read back through the
driver: the same values, to the byte (the times as the column stores them, the encrypted
bodies, which must decrypt to the plain wire messages first). The log also verifies, whole.
A request body's digest passed on by the connector (``Exchange.request_sha256``) stores the
row that hashing the body gives.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.exchange import Exchange
from store.log_keys import message_log_key
from store.message_log import BodyCipher, KeyFolderCertificates, SqlMessageLog, verify_log
from store.message_log.chain import GENESIS, SealedFields, format_time_plainly, sha256_hex
from store.message_log.redaction import redact
from store.message_log.signers import envelope_certificate, signature_keyid
from store.message_log.wire import body_of, encode_request, encode_response, endpoint_of
from store.message_log.writer import fingerprint
from store.tables.message_log import message_log
from tests.support.message_log import (  # noqa: F401 - the db_url and engine fixtures
    log_db_url,
    log_engine_on_both,
    make_rest_exchange,
    make_soap_exchange,
)

HANOI = dt.timezone(dt.timedelta(hours=7))
#: hostile text for the free fields (PostgreSQL's text holds no NUL: added on SQLite only)
HOSTILE = ['a"b\\c', "\x01\x1f\x7f", "Nguyễn Thị An", "\u2028😀", '","seq":1,"x":"', "%s%%"]


def _exchanges(keys: Path, *, nul: bool) -> list[Exchange]:
    soap = make_soap_exchange(keys)
    assert soap.response is not None
    request_cert = envelope_certificate(soap.request)
    response_cert = envelope_certificate(soap.response)
    hostile = [
        replace(
            make_soap_exchange(keys),
            user_id=value,
            issue=value[::-1],
            outcome=f"ok {value}",
            client=value,
        )
        for value in [*HOSTILE, *(["\x00"] if nul else [])]
    ]
    return [
        soap,
        # the certificates passed on by the connector (the same objects, again and again)
        replace(
            soap,
            message_id="passed-on",
            request_certificate=request_cert,
            response_certificate=response_cert,
        ),
        make_soap_exchange(keys, with_response=False),
        make_soap_exchange(keys, at=dt.datetime(2026, 11, 26, 15, 0, 0, 5, tzinfo=HANOI)),
        make_soap_exchange(keys, at=dt.datetime(2026, 11, 26, 8, 0, 0, tzinfo=dt.UTC)),
        make_rest_exchange(keys),
        replace(make_rest_exchange(keys), status=None, attempt=3, user_id=None, issue=None),
        replace(
            make_rest_exchange(keys),
            url="http://127.0.0.1:9/portal/api?citizen=001190000007#x",
            secrets=(("session", "s-1"),),
        ),
        # the request body's digest passed on by the connector (its X-Road requestHash): the
        # same row as hashed here; ignored when redaction changes the body
        replace(soap, message_id="digest-passed", request_sha256=sha256_hex(soap.request)),
        replace(
            soap,
            message_id="digest-passed-redacted",
            request_sha256=sha256_hex(soap.request),
            secrets=(("citizen", soap.user_id or "VN001090000001"),),
        ),
        *hostile,
    ]


def _plain_row(
    exchange: Exchange, seq: int, prev: str, cipher: BodyCipher, keys: Path
) -> dict[str, Any]:
    """The record of ``exchange`` at ``seq`` after ``prev``, from the definitions alone (its
    wire messages in clear: the caller puts the stored ciphertexts in their place)."""
    request = encode_request(
        exchange.method, exchange.url, exchange.request_headers, exchange.request
    )
    response = (
        encode_response(exchange.status, exchange.response_headers, exchange.response)
        if exchange.response is not None
        else None
    )
    secrets = getattr(exchange, "secrets", ())
    if secrets:
        request = redact(request, secrets, cipher.redaction)
        response = redact(response, secrets, cipher.redaction) if response is not None else None
    if exchange.protocol == "soap":
        signers = [envelope_certificate(exchange.request)]
        signers.append(envelope_certificate(exchange.response) if exchange.response else None)
    else:
        found = KeyFolderCertificates(keys)
        keyids = [signature_keyid(exchange.request_headers)]
        keyids.append(
            signature_keyid(exchange.response_headers) if exchange.response is not None else None
        )
        signers = [found(keyid) if keyid else None for keyid in keyids]
    request_signer, response_signer = (
        fingerprint(cert) if cert is not None else None for cert in signers
    )
    sealed = SealedFields(
        seq=seq,
        prev_digest=prev,
        message_id=exchange.message_id,
        attempt=exchange.attempt,
        protocol=exchange.protocol,
        upstream=exchange.upstream,
        operation=exchange.operation,
        client=exchange.client,
        sender=exchange.sender,
        receiver=exchange.receiver,
        user_id=exchange.user_id,
        issue=exchange.issue,
        method=exchange.method,
        endpoint=endpoint_of(exchange.url),
        status=exchange.status,
        outcome=exchange.outcome,
        started_at=format_time_plainly(exchange.started_at),
        finished_at=format_time_plainly(exchange.finished_at),
        request_sha256=sha256_hex(request),
        request_body_sha256=sha256_hex(body_of(request)),
        request_signer=request_signer,
        response_sha256=sha256_hex(response) if response is not None else None,
        response_body_sha256=sha256_hex(body_of(response)) if response is not None else None,
        response_signer=response_signer,
    )
    document = json.dumps(
        sealed.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    row: dict[str, Any] = sealed.as_dict()
    del row["v"]
    row.update(
        started_at=exchange.started_at,
        finished_at=exchange.finished_at,
        request_wire=request,
        response_wire=response,
        body_key_id=cipher.key_id,
        digest=sha256_hex(document),
    )
    return row


async def _driver_rows(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    """The table as the driver reads it: the stored values themselves, no type processing."""
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM message_log ORDER BY seq"))
        return [tuple(row) for row in result]


async def test_written_rows_are_the_plain_definitions_rows(
    engine: AsyncEngine, dev_keys: Path
) -> None:
    """Written one by one and in one group commit, every row is the one the definitions
    give, stored as a Core insert stores it; the log verifies; its head names the last."""
    cipher = BodyCipher(message_log_key(dev_keys))
    log = SqlMessageLog(engine, cipher, certificates=KeyFolderCertificates(dev_keys))
    exchanges = _exchanges(dev_keys, nul=engine.dialect.name == "sqlite")
    half = len(exchanges) // 2
    for exchange in exchanges[:half]:
        await log.record(exchange)
    await asyncio.gather(*(log.record(exchange) for exchange in exchanges[half:]))
    report = await verify_log(engine, cipher=cipher)
    assert report.intact, report.line()
    assert report.records == len(exchanges)

    written = await _driver_rows(engine)
    async with engine.connect() as conn:
        stored = (await conn.execute(select(message_log).order_by(message_log.c.seq))).all()
    plain: list[dict[str, Any]] = []
    prev = GENESIS
    for seq, (exchange, row) in enumerate(zip(exchanges, stored, strict=True), start=1):
        expected = _plain_row(exchange, seq, prev, cipher, dev_keys)
        for kind in ("request", "response"):
            column = f"{kind}_wire"
            opened = (
                cipher.decrypt(getattr(row, column), seq=seq, message_id=row.message_id, kind=kind)
                if getattr(row, column) is not None
                else None
            )
            assert opened == expected[column], (seq, kind)
            expected[column] = getattr(row, column)  # the same ciphertext, stored the plain way
        plain.append(expected)
        prev = expected["digest"]

    async with engine.begin() as conn:
        await conn.execute(delete(message_log))
        await conn.execute(insert(message_log), plain)
    assert await _driver_rows(engine) == written
