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
    """An exchange turned into what is stored, except what depends on its position."""

    exchange: ExchangeLike
    request_wire: bytes
    response_wire: bytes | None
    request_cert: x509.Certificate | None
    response_cert: x509.Certificate | None

    def sealed(self, seq: int, prev_digest: str) -> SealedFields:
        ex = self.exchange
        return SealedFields(
            seq=seq,
            prev_digest=prev_digest,
            message_id=ex.message_id,
            attempt=ex.attempt,
            protocol=ex.protocol,
            upstream=ex.upstream,
            operation=ex.operation,
            client=ex.client,
            sender=ex.sender,
            receiver=ex.receiver,
            user_id=ex.user_id,
            issue=ex.issue,
            method=ex.method,
            endpoint=endpoint_of(ex.url)[:ENDPOINT_MAX],
            status=ex.status,
            outcome=ex.outcome,
            started_at=format_time(ex.started_at),
            finished_at=format_time(ex.finished_at),
            request_sha256=sha256_hex(self.request_wire),
            request_body_sha256=sha256_hex(ex.request),
            request_signer=fingerprint(self.request_cert) if self.request_cert else None,
            response_sha256=(
                sha256_hex(self.response_wire) if self.response_wire is not None else None
            ),
            response_body_sha256=sha256_hex(ex.response) if ex.response is not None else None,
            response_signer=fingerprint(self.response_cert) if self.response_cert else None,
        )


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
        if exchange.protocol == "soap":
            request_cert = envelope_certificate(exchange.request)
            response_cert = envelope_certificate(exchange.response) if exchange.response else None
        else:
            request_cert = self._http_signer(exchange.request_headers)
            response_cert = (
                self._http_signer(exchange.response_headers)
                if exchange.response is not None
                else None
            )
        return _Prepared(exchange, request_wire, response_wire, request_cert, response_cert)

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
        now = self._clock()
        certs: dict[str, x509.Certificate] = {}
        async with self._engine.begin() as conn:
            seq, prev = await lock_head(conn, now)
            rows: list[dict[str, Any]] = []
            seqs: list[int] = []
            for prepared, _ in batch:
                seq += 1
                sealed = prepared.sealed(seq, prev)
                prev = sealed.digest()
                rows.append(self._row(prepared, sealed, prev))
                seqs.append(seq)
                for cert in (prepared.request_cert, prepared.response_cert):
                    if cert is not None and fingerprint(cert) not in self._known_certs:
                        certs[fingerprint(cert)] = cert
            await _store_certificates(conn, certs, now)
            await conn.execute(insert(message_log), rows)
            await conn.execute(
                update(message_log_head)
                .where(message_log_head.c.id == HEAD_ID)
                .values(seq=seq, digest=prev, updated_at=now)
            )
        self._known_certs.update(certs)
        return seqs

    def _row(self, prepared: _Prepared, sealed: SealedFields, digest: str) -> dict[str, Any]:
        ex = prepared.exchange
        row: dict[str, Any] = {
            name: getattr(sealed, name)
            for name in SealedFields.__dataclass_fields__
            if name not in ("started_at", "finished_at")
        }
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
