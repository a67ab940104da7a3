"""``SqlMessageLog``: appends exchanges to the hash-chained message log, one writer at a time.

``record(exchange)`` satisfies ``connectors.exchange.ExchangeRecorder`` structurally: it takes any
object with the attributes of :class:`ExchangeLike` (the connectors' ``Exchange`` has them all) and
returns once the record is committed. Concurrent calls in one process are group-committed
(:class:`~store.batching.GroupCommit`, which the access log may share): each
batch is one transaction, its statements run on the database driver. Across processes the chain
is kept single-file by the head row, which every append updates first (a row lock on PostgreSQL;
SQLite's write lock, taken by ``BEGIN IMMEDIATE``).

The work of a record that does not depend on its place in the chain (wire encoding, hashes,
the signers' fingerprints) is done when it is queued; the signers' certificates are taken from
the exchange when the connector passed them on (``request_certificate`` /
``response_certificate``), and found in the messages otherwise; so is the request body's
SHA-256 (``request_sha256``, which a SOAP connector has from the X-Road ``requestHash``),
hashed here otherwise and always when redaction changed the body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schemas.times import utc_now
from store.batching import (
    DriverStatement,
    DriverTransaction,
    GroupCommit,
    StatementBuilder,
    Written,
)
from store.db import insert_ignoring
from store.message_log.chain import GENESIS, SealedDocument, format_time
from store.message_log.crypto import BodyCipher
from store.message_log.errors import MessageLogError
from store.message_log.redaction import redact
from store.message_log.signers import CertificateLookup, envelope_certificate, signature_keyid
from store.message_log.wire import body_of, encode_request, encode_response, endpoint_of
from store.tables.message_log import message_log, message_log_certificates, message_log_head

HEAD_ID = 1
MAX_BATCH = 256
ENDPOINT_MAX = 512
_FINGERPRINT_CACHE = 256
#: ``hashlib.sha256``, under one name
_sha256 = hashlib.sha256
#: the head row written once, if missing (``lock_head``)
_INSERT_HEAD = insert_ignoring(message_log_head, ["id"])


class ExchangeLike(Protocol):
    """What the message log needs of an exchange (``connectors.exchange.Exchange`` fits)."""

    @property
    def upstream(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def protocol(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def client(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def receiver(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def issue(self) -> str | None: ...
    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def request(self) -> bytes: ...
    @property
    def request_headers(self) -> Mapping[str, str]: ...
    @property
    def response(self) -> bytes | None: ...
    @property
    def response_headers(self) -> Mapping[str, str]: ...
    @property
    def status(self) -> int | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def started_at(self) -> dt.datetime: ...
    @property
    def finished_at(self) -> dt.datetime: ...
    @property
    def attempt(self) -> int: ...


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lowercase hex (how records name their signers)."""
    return certificate.fingerprint(hashes.SHA256()).hex()


#: ``SqlMessageLog._last_signers``: the request's and the response's certificates, their
#: fingerprints, and whether both are stored (no certificate: nothing to store)
_LastSigners = tuple[x509.Certificate | None, x509.Certificate | None, str | None, str | None, bool]


class _Prepared(NamedTuple):
    """An exchange turned into what is stored, except what depends on its position.

    ``document`` is what the record seals but its place (hashes computed once, when the exchange
    is queued); ``row`` its row in :data:`RECORD_COLUMNS` order, with ``None`` where its place
    and its encrypted wire messages go (:meth:`SqlMessageLog._chain`); ``signers`` maps the signers'
    fingerprints to certificates.
    """

    message_id: str
    request_wire: bytes
    response_wire: bytes | None
    document: SealedDocument
    row: tuple[Any, ...]
    signers: dict[str, x509.Certificate]


class SqlMessageLog:
    """The message log on a SQLAlchemy engine (SQLite or PostgreSQL).

    ``cipher`` encrypts the wire messages; ``certificates`` finds the certificate of an RFC 9421
    keyid (e.g. ``KeyFolderCertificates(keys_dir)``) so REST signers are kept too.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        cipher: BodyCipher,
        *,
        certificates: CertificateLookup | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        max_batch: int = MAX_BATCH,
        group: GroupCommit | None = None,
    ) -> None:
        self._engine = engine
        self._cipher = cipher
        self._certificates = certificates
        self._clock = clock
        self._group = group if group is not None else GroupCommit(engine, max_batch=max_batch)
        self._statements: dict[str, _Statements] = {}
        self._known_certs: set[str] = set()
        # the signers' fingerprints by the id of their certificate object, kept alive here (so
        # the id is not another's): the connectors pass the same objects on every call, and a
        # certificate's own hash is far dearer than its id
        self._fingerprints: dict[int, tuple[x509.Certificate, str]] = {}
        # the last request and response certificates, their fingerprints, and whether both were
        # stored already (then for good: ``_known_certs`` only grows): ``_signers``
        self._last_signers: _LastSigners = (None, None, None, None, False)
        # the last URL recorded and its endpoint (``_endpoint_of``)
        self._last_endpoint: tuple[str, str] = ("", endpoint_of("")[:ENDPOINT_MAX])
        # (seq, digest) of the head as this process last committed it: the next batch is
        # chained onto it and a conditional UPDATE checks it (a moved head: read it again);
        # None while a batch is being written, until it commits
        self._head: tuple[int, str] | None = None

    async def record(self, exchange: ExchangeLike) -> None:
        """Append ``exchange`` to the log; returns once it is committed (``ExchangeRecorder``).

        Inside ``group.together()`` it returns at once: the block's end waits for the commit.
        """
        await self._group.record(self, self._prepare(exchange))

    async def append(self, exchange: ExchangeLike) -> int:
        """Append ``exchange`` and return its sequence number once committed."""
        seq: int = await self._group.submit(self, self._prepare(exchange))
        return seq

    def failure(self, exc: Exception) -> Exception:
        """What a caller gets when its exchange could not be written: a ``MessageLogError``."""
        if isinstance(exc, MessageLogError):
            return exc
        error = MessageLogError(f"the exchange could not be recorded ({type(exc).__name__})")
        error.__cause__ = exc
        return error

    async def aclose(self) -> None:
        """Wait for the records already queued to be written."""
        await self._group.aclose()

    def _prepare(self, exchange: ExchangeLike) -> _Prepared:
        request_wire = encode_request(
            exchange.method, exchange.url, exchange.request_headers, exchange.request
        )
        response_wire = (
            encode_response(exchange.status, exchange.response_headers, exchange.response)
            if exchange.response is not None
            else None
        )
        request_body, response = exchange.request, exchange.response
        # the connector's digest of the request body, when it hashed it anyway (the X-Road
        # requestHash): the same SHA-256 of the same bytes, unless redaction changes them
        request_body_sha256: str | None = getattr(exchange, "request_sha256", None)
        secrets: tuple[tuple[str, str], ...] = getattr(exchange, "secrets", ())
        if secrets:  # credentials never reach the store (store.message_log.redaction)
            request_wire = redact(request_wire, secrets, self._cipher.redaction)
            request_body = body_of(request_wire)
            request_body_sha256 = None
            if response_wire is not None:
                response_wire = redact(response_wire, secrets, self._cipher.redaction)
                response = body_of(response_wire)
        # the certificates the connector signed and verified with, when it passed them on
        request_cert: x509.Certificate | None = getattr(exchange, "request_certificate", None)
        response_cert: x509.Certificate | None = getattr(exchange, "response_certificate", None)
        if exchange.protocol == "soap":
            if request_cert is None:
                request_cert = envelope_certificate(exchange.request)
            if response_cert is None and exchange.response:
                response_cert = envelope_certificate(exchange.response)
        else:
            if request_cert is None:
                request_cert = self._http_signer(exchange.request_headers)
            if response_cert is None and exchange.response is not None:
                response_cert = self._http_signer(exchange.response_headers)
        request_signer, response_signer, signers = self._signers(request_cert, response_cert)
        started_at, finished_at = exchange.started_at, exchange.finished_at
        url = exchange.url
        last_url, endpoint = self._last_endpoint
        if url != last_url:
            endpoint = self._endpoint_of(url)
        fields: dict[str, Any] = {
            "message_id": exchange.message_id,
            "attempt": exchange.attempt,
            "protocol": exchange.protocol,
            "upstream": exchange.upstream,
            "operation": exchange.operation,
            "client": exchange.client,
            "sender": exchange.sender,
            "receiver": exchange.receiver,
            "user_id": exchange.user_id,
            "issue": exchange.issue,
            "method": exchange.method,
            "endpoint": endpoint,
            "status": exchange.status,
            "outcome": exchange.outcome,
            "started_at": format_time(started_at),
            "finished_at": format_time(finished_at),
            # SHA-256 in lowercase hex (``chain.sha256_hex``), taken here: four calls fewer
            "request_sha256": _sha256(request_wire).hexdigest(),
            "request_body_sha256": request_body_sha256 or _sha256(request_body).hexdigest(),
            "request_signer": request_signer,
            "response_sha256": (
                _sha256(response_wire).hexdigest() if response_wire is not None else None
            ),
            "response_body_sha256": _sha256(response).hexdigest() if response is not None else None,
            "response_signer": response_signer,
        }
        document = SealedDocument(fields)
        # the row holds the times themselves (the column's type stores them), not their text
        fields["started_at"], fields["finished_at"] = started_at, finished_at
        fields["body_key_id"] = self._cipher.key_id
        fields.update(_PLACED_LATER)
        row: tuple[Any, ...] = _row_of(fields)
        return _Prepared(exchange.message_id, request_wire, response_wire, document, row, signers)

    def _signers(
        self, request_cert: x509.Certificate | None, response_cert: x509.Certificate | None
    ) -> tuple[str | None, str | None, dict[str, x509.Certificate]]:
        """The fingerprints of the request's and the response's signers (None: no certificate)
        and, by fingerprint, those of their certificates not stored yet.

        The same two certificate objects as the last time (a connector passes its own and its
        upstream's on every call), both stored already: their fingerprints as remembered, and
        none to store. Otherwise each fingerprint is :meth:`_fingerprint`'s.
        """
        last = self._last_signers
        if last[0] is request_cert and last[1] is response_cert and last[4]:
            return last[2], last[3], {}
        request_signer = self._fingerprint(request_cert)
        response_signer = self._fingerprint(response_cert)
        signers: dict[str, x509.Certificate] = {}
        known = self._known_certs
        if request_signer is not None and request_cert is not None and request_signer not in known:
            signers[request_signer] = request_cert
        if (
            response_signer is not None
            and response_cert is not None
            and response_signer not in known
        ):
            signers[response_signer] = response_cert
        self._last_signers = (
            request_cert,
            response_cert,
            request_signer,
            response_signer,
            not signers,
        )
        return request_signer, response_signer, signers

    def _fingerprint(self, certificate: x509.Certificate | None) -> str | None:
        if certificate is None:
            return None
        found = self._fingerprints.get(id(certificate))
        if found is not None and found[0] is certificate:
            return found[1]
        if len(self._fingerprints) >= _FINGERPRINT_CACHE:
            self._fingerprints.clear()
        computed = fingerprint(certificate)
        self._fingerprints[id(certificate)] = (certificate, computed)
        return computed

    def _endpoint_of(self, url: str) -> str:
        """The stored endpoint of ``url``, remembered as the last one (a connector calls one
        URL: parsing it again each time costs more than the rest of its row; ``_prepare``
        takes the last one when the URL is the same)."""
        endpoint = endpoint_of(url)[:ENDPOINT_MAX]
        self._last_endpoint = (url, endpoint)
        return endpoint

    def _http_signer(self, headers: Mapping[str, str]) -> x509.Certificate | None:
        keyid = signature_keyid(headers)
        if keyid is None or self._certificates is None:
            return None
        return self._certificates(keyid)

    async def write_batch(self, tx: DriverTransaction, items: Sequence[Any]) -> Written:
        """Chain ``items`` (prepared exchanges) onto the head and write them in ``tx``.

        When this process wrote the head last, the batch is chained onto the ``(seq, digest)``
        remembered, and a guard (``queue_guard``: a conditional ``UPDATE``, head still there)
        both takes the head's lock and moves it, queued with the inserts: on SQLite the whole
        transaction is one trip to the driver's thread. If the head moved (another process
        appended), the guard fails the transaction and the group commit writes it again, with
        nothing remembered. Then (and for the first batch) the head is locked and read first,
        as :func:`lock_head` does, and the batch chained onto what it holds. The head is
        remembered again only once a batch has committed. This is the
        :class:`~store.batching.Journal` side of the log.
        """
        batch: Sequence[_Prepared] = items
        now = self._clock()
        sql = self._statements_for(tx)
        certs: dict[str, x509.Certificate] = {}
        for prepared in batch:
            certs.update(prepared.signers)
        for fp in self._known_certs.intersection(certs):
            del certs[fp]
        remembered, self._head = self._head, None
        if remembered is not None:
            rows, seq, digest = self._chain(batch, *remembered)
            tx.queue_guard(sql.move_head, (seq, digest, now, HEAD_ID, *remembered))
        else:
            rows, seq, digest = self._chain(batch, *await _lock_head(tx, sql, now))
            tx.queue(sql.set_head, (seq, digest, now, HEAD_ID))
        if certs:
            tx.queue_many(
                sql.insert_certificate,
                [
                    (
                        fp,
                        cert.public_bytes(serialization.Encoding.DER),
                        cert.subject.rfc4514_string()[:255],
                        now,
                    )
                    for fp, cert in certs.items()
                ],
            )
        tx.queue_many(sql.insert_record, rows)

        def committed() -> None:
            self._head = (seq, digest)
            self._known_certs.update(certs)

        return Written([row[_SEQ] for row in rows], committed)

    def _statements_for(self, tx: DriverTransaction) -> _Statements:
        found = self._statements.get(tx.dialect.name)
        if found is None:
            found = self._statements[tx.dialect.name] = _Statements.build(tx.dialect)
        return found

    def _chain(
        self, batch: Sequence[_Prepared], seq: int, prev: str
    ) -> tuple[list[list[Any]], int, str]:
        """The rows of ``batch`` chained after record ``seq`` of digest ``prev`` (values in
        :data:`RECORD_COLUMNS` order), and the new head's ``(seq, digest)``."""
        rows: list[list[Any]] = []
        encrypt = self._cipher.encrypt
        for prepared in batch:
            seq += 1
            digest = prepared.document.digest(seq, prev)
            message_id = prepared.message_id
            row = list(prepared.row)
            row[_SEQ], row[_PREV_DIGEST], row[_DIGEST] = seq, prev, digest
            row[_REQUEST_WIRE] = encrypt(
                prepared.request_wire, seq=seq, message_id=message_id, kind="request"
            )
            if prepared.response_wire is not None:
                row[_RESPONSE_WIRE] = encrypt(
                    prepared.response_wire, seq=seq, message_id=message_id, kind="response"
                )
            rows.append(row)
            prev = digest
        return rows, seq, prev


#: the columns of a record row, in the order the insert statement takes them
RECORD_COLUMNS = tuple(
    column.name
    for column in message_log.columns
    if column.name not in ("purged_at", "purge_retention_days", "purge_mac")
)
_row_of = operator.itemgetter(*RECORD_COLUMNS)
#: a record's place and encrypted wire messages: unknown when it is queued (``_chain`` sets them)
_PLACED_LATER = dict.fromkeys(("seq", "prev_digest", "digest", "request_wire", "response_wire"))
#: where they go in its row
_SEQ, _PREV_DIGEST, _DIGEST, _REQUEST_WIRE, _RESPONSE_WIRE = map(
    RECORD_COLUMNS.index, _PLACED_LATER
)


@dataclass(frozen=True, slots=True)
class _Statements:
    """The writer's statements for one dialect (built once)."""

    move_head: DriverStatement
    touch_head: DriverStatement
    set_head: DriverStatement
    insert_head: DriverStatement
    any_record: DriverStatement
    insert_certificate: DriverStatement
    insert_record: DriverStatement

    @classmethod
    def build(cls, dialect: Dialect) -> _Statements:
        head = StatementBuilder(message_log_head, dialect)
        records = StatementBuilder(message_log, dialect)
        certificates = StatementBuilder(message_log_certificates, dialect)
        return cls(
            move_head=head.update(
                ["seq", "digest", "updated_at"],
                where=["id", "seq", "digest"],
                returning=["seq"],
            ),
            touch_head=head.update(["updated_at"], where=["id"], returning=["seq", "digest"]),
            set_head=head.update(["seq", "digest", "updated_at"], where=["id"]),
            insert_head=head.insert(
                ["id", "seq", "digest", "updated_at"], ignore_conflicts_on=["id"]
            ),
            any_record=records.select(["seq"], limit=1),
            insert_certificate=certificates.insert(
                ["fingerprint", "der", "subject", "first_seen_at"],
                ignore_conflicts_on=["fingerprint"],
            ),
            insert_record=records.insert(RECORD_COLUMNS),
        )


async def _lock_head(tx: DriverTransaction, sql: _Statements, now: dt.datetime) -> tuple[int, str]:
    """:func:`lock_head` on the driver."""
    rows = await tx.execute(sql.touch_head, (now, HEAD_ID))
    if not rows:
        if await tx.execute(sql.any_record):
            raise MessageLogError(
                "the message log's head row is missing: run 'lienthong log verify'"
            )
        tx.queue(sql.insert_head, (HEAD_ID, 0, GENESIS, now))
        rows = await tx.execute(sql.touch_head, (now, HEAD_ID))
    return int(rows[0][0]), str(rows[0][1])


async def lock_head(conn: AsyncConnection, now: dt.datetime) -> tuple[int, str]:
    """Lock the chain's head row (creating it for an empty log) and return ``(seq, digest)``.

    One ``UPDATE … RETURNING`` both takes the lock (a row lock on PostgreSQL; on SQLite the
    transaction already holds the write lock) and reads the head under it.
    """
    touch = (
        update(message_log_head)
        .where(message_log_head.c.id == HEAD_ID)
        .values(updated_at=now)
        .returning(message_log_head.c.seq, message_log_head.c.digest)
    )
    row = (await conn.execute(touch)).first()
    if row is None:
        last = (await conn.execute(select(message_log.c.seq).limit(1))).first()
        if last is not None:
            raise MessageLogError(
                "the message log's head row is missing: run 'lienthong log verify'"
            )
        values = {"id": HEAD_ID, "seq": 0, "digest": GENESIS, "updated_at": now}
        await conn.execute(_INSERT_HEAD[conn.dialect.name == "postgresql"].values(**values))
        row = (await conn.execute(touch)).one()
    return int(row.seq), str(row.digest)


__all__ = ["RECORD_COLUMNS", "ExchangeLike", "SqlMessageLog", "fingerprint", "lock_head"]
