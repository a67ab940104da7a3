"""``SqlMessageLog``: appends exchanges to the hash-chained message log, one writer at a time.

``record(exchange)`` satisfies ``connectors.exchange.ExchangeRecorder`` structurally: it takes any
object with the attributes of :class:`ExchangeLike` (the connectors' ``Exchange`` has them all) and
returns once the record is committed. Concurrent calls in one process are group-committed: the
first caller's batch is written by a background task while later callers queue up, and each batch
is one transaction. Across processes the chain is kept single-file by the head row, which every
append updates first (a row lock on PostgreSQL; SQLite's write lock, taken by ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store.message_log.chain import GENESIS, SealedFields, format_time, sha256_hex
from store.message_log.crypto import BodyCipher
from store.message_log.errors import MessageLogError
from store.message_log.signers import CertificateLookup, envelope_certificate, signature_keyid
from store.message_log.wire import encode_request, encode_response, endpoint_of
from store.tables.message_log import message_log, message_log_certificates, message_log_head
from store.types import utc_now

HEAD_ID = 1
MAX_BATCH = 256
ENDPOINT_MAX = 512
_FINGERPRINT_CACHE = 256


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


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An exchange turned into what is stored, except what depends on its position.

    ``fields`` holds every sealed field but ``seq`` and ``prev_digest`` (hashes computed once,
    when the exchange is queued); ``signers`` maps the signers' fingerprints to certificates.
    """

    exchange: ExchangeLike
    request_wire: bytes
    response_wire: bytes | None
    fields: dict[str, Any]
    signers: dict[str, x509.Certificate]

    def sealed(self, seq: int, prev_digest: str) -> SealedFields:
        return SealedFields(seq=seq, prev_digest=prev_digest, **self.fields)


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
    ) -> None:
        self._engine = engine
        self._cipher = cipher
        self._certificates = certificates
        self._clock = clock
        self._max_batch = max_batch
        self._pending: list[tuple[_Prepared, asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._known_certs: set[str] = set()
        self._fingerprints: dict[x509.Certificate, str] = {}
        # (seq, digest) of the head as this process last committed it: the next batch is
        # chained onto it and a conditional UPDATE checks it (a moved head: read it again)
        self._head: tuple[int, str] | None = None

    async def record(self, exchange: ExchangeLike) -> None:
        """Append ``exchange`` to the log; returns once it is committed (``ExchangeRecorder``)."""
        await self.append(exchange)

    async def append(self, exchange: ExchangeLike) -> int:
        """Append ``exchange`` and return its sequence number once committed."""
        prepared = self._prepare(exchange)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((prepared, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="message-log-writer")
        return await future

    async def aclose(self) -> None:
        """Wait for the records already queued to be written."""
        if self._writer is not None:
            await asyncio.shield(self._writer)

    def _prepare(self, exchange: ExchangeLike) -> _Prepared:
        request_wire = encode_request(
            exchange.method, exchange.url, exchange.request_headers, exchange.request
        )
        response_wire = (
            encode_response(exchange.status, exchange.response_headers, exchange.response)
            if exchange.response is not None
            else None
        )
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
        request_signer = self._fingerprint(request_cert)
        response_signer = self._fingerprint(response_cert)
        signers = {
            fp: cert
            for fp, cert in ((request_signer, request_cert), (response_signer, response_cert))
            if fp is not None and cert is not None and fp not in self._known_certs
        }
        response = exchange.response
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
            "endpoint": endpoint_of(exchange.url)[:ENDPOINT_MAX],
            "status": exchange.status,
            "outcome": exchange.outcome,
            "started_at": format_time(exchange.started_at),
            "finished_at": format_time(exchange.finished_at),
            "request_sha256": sha256_hex(request_wire),
            "request_body_sha256": sha256_hex(exchange.request),
            "request_signer": request_signer,
            "response_sha256": sha256_hex(response_wire) if response_wire is not None else None,
            "response_body_sha256": sha256_hex(response) if response is not None else None,
            "response_signer": response_signer,
        }
        return _Prepared(exchange, request_wire, response_wire, fields, signers)

    def _fingerprint(self, certificate: x509.Certificate | None) -> str | None:
        if certificate is None:
            return None
        found = self._fingerprints.get(certificate)
        if found is None:
            if len(self._fingerprints) >= _FINGERPRINT_CACHE:
                self._fingerprints.clear()
            found = self._fingerprints[certificate] = fingerprint(certificate)
        return found

    def _http_signer(self, headers: Mapping[str, str]) -> x509.Certificate | None:
        keyid = signature_keyid(headers)
        if keyid is None or self._certificates is None:
            return None
        return self._certificates(keyid)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = (
                self._pending[: self._max_batch],
                self._pending[self._max_batch :],
            )
            try:
                await self._write_batch(batch)
            except asyncio.CancelledError:
                for _, future in [*batch, *self._pending]:
                    future.cancel()
                self._pending = []
                raise

    async def _write_batch(self, batch: list[tuple[_Prepared, asyncio.Future[int]]]) -> None:
        """Write ``batch`` in one transaction; if that fails, each one alone, so that one bad
        exchange fails only its own call."""
        try:
            seqs = await self._write(batch)
        except Exception as exc:
            if len(batch) > 1:
                for item in batch:
                    await self._write_batch([item])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(_as_log_error(exc))
            return
        for (_, future), seq in zip(batch, seqs, strict=True):
            if not future.done():
                future.set_result(seq)

    async def _write(self, batch: Sequence[tuple[_Prepared, asyncio.Future[int]]]) -> list[int]:
        """Chain ``batch`` onto the head and write it in one transaction.

        When this process wrote the head last, one conditional ``UPDATE`` (head still at the
        ``(seq, digest)`` remembered) both takes the head's lock and moves it; otherwise (first
        batch, another process appended, or the remembered head is stale) the head is locked
        and read first, as :func:`lock_head` does, and the batch chained onto what it holds.
        """
        now = self._clock()
        certs: dict[str, x509.Certificate] = {}
        for prepared, _ in batch:
            certs.update(prepared.signers)
        for fp in self._known_certs.intersection(certs):
            del certs[fp]
        async with self._engine.begin() as conn:
            remembered = self._head
            chained = None
            if remembered is not None:
                chained = self._chain(batch, *remembered)
                moved = await conn.execute(
                    update(message_log_head)
                    .where(
                        message_log_head.c.id == HEAD_ID,
                        message_log_head.c.seq == remembered[0],
                        message_log_head.c.digest == remembered[1],
                    )
                    .values(seq=chained[1], digest=chained[2], updated_at=now)
                )
                if moved.rowcount != 1:
                    chained = None
            if chained is None:
                chained = self._chain(batch, *await lock_head(conn, now))
                await conn.execute(
                    update(message_log_head)
                    .where(message_log_head.c.id == HEAD_ID)
                    .values(seq=chained[1], digest=chained[2], updated_at=now)
                )
            rows, seq, digest = chained
            await _store_certificates(conn, certs, now)
            await conn.execute(insert(message_log), rows)
        self._head = (seq, digest)
        self._known_certs.update(certs)
        return [row["seq"] for row in rows]

    def _chain(
        self, batch: Sequence[tuple[_Prepared, asyncio.Future[int]]], seq: int, prev: str
    ) -> tuple[list[dict[str, Any]], int, str]:
        """The rows of ``batch`` chained after record ``seq`` of digest ``prev``, and the new
        head's ``(seq, digest)``."""
        rows: list[dict[str, Any]] = []
        for prepared, _ in batch:
            seq += 1
            sealed = prepared.sealed(seq, prev)
            prev = sealed.digest()
            rows.append(self._row(prepared, sealed, prev))
        return rows, seq, prev

    def _row(self, prepared: _Prepared, sealed: SealedFields, digest: str) -> dict[str, Any]:
        ex = prepared.exchange
        row: dict[str, Any] = dict(prepared.fields)
        row["seq"] = sealed.seq
        row["prev_digest"] = sealed.prev_digest
        row["started_at"] = ex.started_at
        row["finished_at"] = ex.finished_at
        row["digest"] = digest
        row["body_key_id"] = self._cipher.key_id
        row["request_wire"] = self._cipher.encrypt(
            prepared.request_wire, seq=sealed.seq, message_id=ex.message_id, kind="request"
        )
        row["response_wire"] = (
            self._cipher.encrypt(
                prepared.response_wire, seq=sealed.seq, message_id=ex.message_id, kind="response"
            )
            if prepared.response_wire is not None
            else None
        )
        return row


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
        await conn.execute(_insert_ignore(conn, message_log_head, ["id"]).values(**values))
        row = (await conn.execute(touch)).one()
    return int(row.seq), str(row.digest)


def _insert_ignore(conn: AsyncConnection, table: Any, keys: list[str]) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    raise MessageLogError(f"unsupported database {conn.dialect.name!r}")


async def _store_certificates(
    conn: AsyncConnection, certs: Mapping[str, x509.Certificate], now: dt.datetime
) -> None:
    if not certs:
        return
    rows = [
        {
            "fingerprint": fp,
            "der": cert.public_bytes(serialization.Encoding.DER),
            "subject": cert.subject.rfc4514_string()[:255],
            "first_seen_at": now,
        }
        for fp, cert in certs.items()
    ]
    await conn.execute(_insert_ignore(conn, message_log_certificates, ["fingerprint"]), rows)


def _as_log_error(exc: Exception) -> Exception:
    if isinstance(exc, MessageLogError):
        return exc
    error = MessageLogError(f"the exchange could not be recorded ({type(exc).__name__})")
    error.__cause__ = exc
    return error


__all__ = ["ExchangeLike", "SqlMessageLog", "fingerprint", "lock_head"]
