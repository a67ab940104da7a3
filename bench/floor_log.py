"""The two durable log rows of a lookup, written the cheapest way: :mod:`sqlite3` into the store's
own tables (``bench/adapter_floor.py``'s log writes, and the integrated floor's,
``bench/floor_server.py``).

:class:`FloorLog` opens a fresh SQLite file with the store's tables (WAL journal,
``synchronous=FULL``, as the store runs SQLite) and commits lookups in one transaction each
call of :meth:`FloorLog.commit`: per lookup the message-log record (both messages encrypted
with AES-GCM, their SHA-256 hashes, the chain digest) and the access-log row (the citizen's keyed
hash), the head row moved once per transaction. No queue, no thread hop, no SQLAlchemy.
:class:`GroupCommit` gathers the lookups of the requests in flight on the event loop and commits
them together, each request waiting for its own commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


@dataclass(frozen=True, slots=True)
class LoggedLookup:
    """What a lookup's two log rows are made of."""

    request: bytes
    answer: bytes
    user_id: str
    issue: str
    citizen_id: str


class FloorLog:
    """A fresh SQLite file at ``path`` with the store's log tables, written with :mod:`sqlite3`."""

    def __init__(self, path: Path) -> None:
        from sqlalchemy import create_engine

        from store.tables.access_log import access_log
        from store.tables.message_log import message_log, message_log_head

        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        engine = create_engine(f"sqlite:///{path}")
        for table in (message_log, message_log_head, access_log):
            table.create(engine)
        engine.dispose()
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            self.connection.execute(f"PRAGMA {pragma}")
        self.connection.execute(
            "INSERT INTO message_log_head VALUES (1, 0, ?, ?)", ("0" * 64, "now")
        )
        skipped = ("purged_at", "purge_retention_days", "purge_mac")
        self.columns = [c.name for c in message_log.columns if c.name not in skipped]
        self.insert_record = (
            f"INSERT INTO message_log ({', '.join(self.columns)}) "  # noqa: S608 - the table's
            f"VALUES ({', '.join('?' * len(self.columns))})"
        )
        access_columns = [c.name for c in access_log.columns if c.name != "id"]
        self.insert_access = (
            f"INSERT INTO access_log ({', '.join(access_columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(access_columns))})"
        )
        self.aead = AESGCM(os.urandom(32))
        self.hmac_key = os.urandom(32)
        self.seq = 0
        self.digest = "0" * 64

    def rows(self, lookup: LoggedLookup, now: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The message-log record and the access-log row of ``lookup`` (the chain moved on)."""
        self.seq += 1
        seq = self.seq
        # a random id, as the connectors give each message: its index takes it anywhere
        message_id = str(uuid.uuid4())
        request, answer = lookup.request, lookup.answer
        values: dict[str, Any] = {
            "seq": seq,
            "message_id": message_id,
            "attempt": 1,
            "protocol": "soap",
            "upstream": "population",
            "operation": "GetCitizen",
            "client": "province-app",
            "sender": "adapter",
            "receiver": "population",
            "user_id": lookup.user_id,
            "issue": lookup.issue,
            "method": "POST",
            "endpoint": "http://127.0.0.1/population/soap",
            "status": 200,
            "outcome": "ok",
            "started_at": now,
            "finished_at": now,
            "request_sha256": hashlib.sha256(request).hexdigest(),
            "request_body_sha256": hashlib.sha256(request).hexdigest(),
            "request_signer": "a" * 64,
            "response_sha256": hashlib.sha256(answer).hexdigest(),
            "response_body_sha256": hashlib.sha256(answer).hexdigest(),
            "response_signer": "b" * 64,
            "request_wire": self.aead.encrypt(os.urandom(12), request, message_id.encode()),
            "response_wire": self.aead.encrypt(os.urandom(12), answer, message_id.encode()),
            "body_key_id": "k1",
            "prev_digest": self.digest,
        }
        columns = self.columns
        sealed = "|".join(str(values[name]) for name in columns[:-1] if name[-5:] != "_wire")
        values["digest"] = self.digest = hashlib.sha256(sealed.encode()).hexdigest()
        access = (
            hmac.new(self.hmac_key, lookup.citizen_id.encode(), hashlib.sha256).hexdigest(),
            "k1",
            now,
            "province-app",
            "province",
            lookup.user_id,
            lookup.issue,
            "GetCitizen",
            '["citizen_id", "full_name"]',
            "req-1",
            message_id,
            "answered",
        )
        return tuple(values[name] for name in columns), access

    def commit(self, lookups: list[LoggedLookup]) -> None:
        """The rows of ``lookups`` made durable in one transaction."""
        now = dt.datetime.now(dt.UTC).isoformat()
        records, accesses = [], []
        for lookup in lookups:
            record, access = self.rows(lookup, now)
            records.append(record)
            accesses.append(access)
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "UPDATE message_log_head SET seq = ?, digest = ?, updated_at = ? WHERE id = 1",
            (self.seq, self.digest, now),
        )
        connection.executemany(self.insert_record, records)
        connection.executemany(self.insert_access, accesses)
        connection.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


class GroupCommit:
    """The lookups of the requests in flight, committed together on the event loop.

    :meth:`write` queues a lookup and returns a future set once its rows are durable; the first
    lookup queued schedules a flush with ``call_soon``, so every lookup that reaches its log
    write in the same turn of the loop shares the transaction. The commit runs on the loop's
    thread (no thread to wake); its CPU time is counted in :attr:`cpu_seconds`.
    """

    def __init__(self, log: FloorLog) -> None:
        self.log = log
        self.pending: list[tuple[LoggedLookup, asyncio.Future[None]]] = []
        self.transactions = 0
        self.lookups = 0
        self.cpu_seconds = 0.0

    def write(self, lookup: LoggedLookup) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        if not self.pending:
            loop.call_soon(self.flush)
        done: asyncio.Future[None] = loop.create_future()
        self.pending.append((lookup, done))
        return done

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        started = time.thread_time()
        try:
            self.log.commit([lookup for lookup, _ in batch])
        except Exception as exc:  # every request of the batch learns its rows were not written
            with contextlib.suppress(sqlite3.Error):
                self.log.connection.execute("ROLLBACK")
            for _, done in batch:
                if not done.done():  # a request whose client went away no longer waits
                    done.set_exception(exc)
            return
        finally:
            self.cpu_seconds += time.thread_time() - started
        self.transactions += 1
        self.lookups += len(batch)
        for _, done in batch:
            if not done.done():
                done.set_result(None)


__all__ = ["FloorLog", "GroupCommit", "LoggedLookup"]
