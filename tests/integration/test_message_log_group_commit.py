"""The log group commit on the real store (SQLite and PostgreSQL).

The message log and the access log share one ``GroupCommit``: what concurrent lookups queue is
written in shared transactions on the database driver, with the chain as strong as before, the
signers' certificates taken from the connector when it passes them, a failure confined to its
own caller, and a head moved by another writer read again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from security.keys import load_party
from security.trust import TrustStore
from store.access_log import AccessLogEntry, list_for_citizen
from store.batching import (
    DriverTransaction,
    GroupCommit,
    GuardFailed,
    StatementBuilder,
    Written,
    driver_transaction,
)
from store.db import create_engine
from store.errors import ConstraintViolation
from store.log_keys import message_log_key
from store.logs import AccessLogWriter, LookupLogs
from store.message_log import BodyCipher, SqlMessageLog, verify_log
from store.message_log import writer as writer_module
from store.message_log.records import record_at
from store.message_log.writer import fingerprint
from store.tables.access_log import access_log
from store.tables.message_log import message_log, message_log_certificates, message_log_head
from tests.support.message_log import (  # noqa: F401 - the db_url and engine fixtures
    access_entry,
    log_db_url,
    log_engine,
    log_engine_on_both,
    make_soap_exchange,
)

KEY = b"g" * 32
CITIZEN = "001190000007"
T0 = dt.datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.fixture
def cipher(dev_keys: Path) -> BodyCipher:
    return BodyCipher(message_log_key(dev_keys))


def _entry(n: int, **changes: object) -> AccessLogEntry:
    return access_entry(CITIZEN, n, at=T0 + dt.timedelta(seconds=n), **changes)


async def test_both_logs_share_transactions_and_the_chain_holds(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """20 lookups at once, each one exchange and one access row: fewer transactions than
    lookups, every row committed, the chain intact."""
    group = GroupCommit(engine)
    log = SqlMessageLog(engine, cipher, group=group)
    access = AccessLogWriter(engine, KEY, group=group)

    async def lookup(n: int) -> None:
        await log.record(make_soap_exchange(dev_keys))
        await access.record(_entry(n))

    await asyncio.gather(*(lookup(n) for n in range(20)))
    assert group.items == 40
    assert group.transactions < 20
    report = await verify_log(engine, cipher=cipher)
    assert report.intact, report.line()
    assert report.records == 20
    async with engine.connect() as connection:
        rows = await connection.scalar(select(func.count()).select_from(access_log))
    assert rows == 20


async def test_lookup_logs_commit_a_lookups_records_together(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """The store's face for the two logs: a lookup's exchange and access row recorded inside
    ``together()`` share one transaction, both durable when the block ends, and its figures
    count them."""
    logs = LookupLogs(engine, cipher, KEY)
    async with logs.together():
        await logs.message_log.record(make_soap_exchange(dev_keys))
        await logs.access_log.record(_entry(1))
    assert (logs.transactions, logs.items) == (1, 2)
    async with engine.connect() as connection:
        rows = await connection.scalar(select(func.count()).select_from(access_log))
    assert rows == 1
    report = await verify_log(engine, cipher=cipher)
    assert report.records == 1
    await logs.aclose()


async def test_access_rows_read_back_as_a_core_insert_would_store_them(
    engine: AsyncEngine,
) -> None:
    """Rows written on the driver come back through SQLAlchemy unchanged: aware UTC times,
    the field list, the keyed citizen."""
    access = AccessLogWriter(engine, KEY)
    await access.record(_entry(1, occurred_at=T0.astimezone(dt.timezone(dt.timedelta(hours=7)))))
    async with AsyncSession(engine) as session:
        page = await list_for_citizen(session, CITIZEN, key=KEY)
    [item] = page.items
    assert item.occurred_at == T0
    assert item.occurred_at.tzinfo is not None
    assert item.fields == ("citizen_id", "full_name")
    assert (item.organisation, item.request_id) == ("UBND tỉnh Hà Giang", "req-1")


async def _stored(engine: AsyncEngine, table: Table, order: str) -> list[tuple[object, ...]]:
    """The rows of ``table`` as the driver gives them back, no type of SQLAlchemy's applied
    (SQLite: the times' text, the JSON's text; PostgreSQL: what asyncpg decodes)."""
    async with engine.connect() as connection:
        query = f"SELECT * FROM {table.name} ORDER BY {order}"  # noqa: S608 - the metadata's names
        result = await connection.execute(text(query))
        return [tuple(row) for row in result]


async def test_rows_written_on_the_driver_are_what_a_core_insert_stores(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """The lookup logs' rows, written on the driver (times in UTC and in another zone, field
    lists, no response), are stored byte for byte as SQLAlchemy Core inserts the same values:
    read back, deleted, inserted again through Core, they are read back unchanged."""
    hanoi = dt.timezone(dt.timedelta(hours=7))
    logs = LookupLogs(engine, cipher, KEY)
    exchanges = [
        make_soap_exchange(dev_keys, at=T0),
        make_soap_exchange(dev_keys, at=T0.astimezone(hanoi).replace(microsecond=0)),
        make_soap_exchange(dev_keys, at=T0, with_response=False),
    ]
    entries = [
        _entry(1),
        _entry(2, occurred_at=T0.astimezone(hanoi)),
        _entry(3, fields=()),
        _entry(4, fields=("citizen_id", "full_name", "tên")),
        _entry(5, occurred_at=None, outcome="refused"),
        _entry(6, fields=["full_name"]),  # a list, though the entry's type says tuple
    ]
    async with logs.together():
        for exchange in exchanges:
            await logs.message_log.record(exchange)
        for entry in entries:
            await logs.access_log.record(entry)
    await logs.aclose()
    for table, order in ((message_log, "seq"), (access_log, "id")):
        written = await _stored(engine, table, order)
        assert len(written) in (len(exchanges), len(entries))
        async with engine.begin() as connection:
            rows = [dict(row) for row in (await connection.execute(select(table))).mappings()]
            await connection.execute(table.delete())
            await connection.execute(insert(table), rows)
        assert await _stored(engine, table, order) == written
    report = await verify_log(engine, cipher=cipher)
    assert report.intact, report.line()


async def test_certificates_passed_by_the_connector_are_recorded_without_parsing(
    engine: AsyncEngine,
    cipher: BodyCipher,
    dev_keys: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exchange carrying its signers' certificates is recorded without reading the
    envelopes; the record names the same signers and verifies against the trust store."""
    adapter = load_party(dev_keys, "adapter").certificate
    population = load_party(dev_keys, "population").certificate
    exchange = dataclasses.replace(
        make_soap_exchange(dev_keys), request_certificate=adapter, response_certificate=population
    )

    def no_parsing(envelope: bytes) -> None:
        raise AssertionError("the envelope was parsed again")

    monkeypatch.setattr(writer_module, "envelope_certificate", no_parsing)
    log = SqlMessageLog(engine, cipher)
    seq = await log.append(exchange)
    async with engine.connect() as connection:
        record = await record_at(connection, seq)
        stored = (await connection.execute(select(message_log_certificates.c.fingerprint))).all()
    assert record is not None
    assert record.sealed.request_signer == fingerprint(adapter)
    assert record.sealed.response_signer == fingerprint(population)
    assert {row.fingerprint for row in stored} == {fingerprint(adapter), fingerprint(population)}
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    report = await verify_log(engine, cipher=cipher, trust=trust)
    assert report.intact, report.line()


async def test_a_failing_item_fails_only_its_caller(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """An access row the database refuses fails its own caller; the exchanges and rows queued
    with it in the same batch are committed."""
    group = GroupCommit(engine)
    log = SqlMessageLog(engine, cipher, group=group)
    access = AccessLogWriter(engine, KEY, group=group)
    bad = _entry(2, client_id=None)
    results = await asyncio.gather(
        log.append(make_soap_exchange(dev_keys)),
        access.record(_entry(1)),
        access.record(bad),
        log.append(make_soap_exchange(dev_keys)),
        return_exceptions=True,
    )
    assert isinstance(results[2], ConstraintViolation)
    assert sorted(r for r in (results[0], results[3]) if isinstance(r, int)) == [1, 2]
    assert results[1] is None
    report = await verify_log(engine, cipher=cipher)
    assert report.intact, report.line()
    async with engine.connect() as connection:
        rows = await connection.scalar(select(func.count()).select_from(access_log))
    assert rows == 1


async def test_a_head_moved_by_another_writer_is_read_again(
    db_url: str, engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Writer A remembers the head it wrote; writer B (another engine) appends; A's next append
    finds the head moved and chains onto B's record."""
    other = create_engine(db_url)
    try:
        first, second = SqlMessageLog(engine, cipher), SqlMessageLog(other, cipher)
        seqs = [
            await first.append(make_soap_exchange(dev_keys)),
            await second.append(make_soap_exchange(dev_keys)),
            await first.append(make_soap_exchange(dev_keys)),
            await first.append(make_soap_exchange(dev_keys)),
        ]
    finally:
        await other.dispose()
    assert seqs == [1, 2, 3, 4]
    report = await verify_log(engine, cipher=cipher)
    assert report.intact, report.line()


async def test_driver_errors_roll_back_the_whole_transaction(engine: AsyncEngine) -> None:
    """A statement that fails inside ``driver_transaction`` raises SQLAlchemy's error and
    nothing queued before it is kept."""
    insert = StatementBuilder(access_log, engine.dialect).insert(
        ["citizen_key", "occurred_at", "client_id", "organisation", "operation", "fields"]
    )
    row = ("k" * 64, T0, "province-app", "UBND", "GetCitizen", ["citizen_id"])

    async def write_with_a_bad_row() -> None:
        async with driver_transaction(engine) as tx:
            tx.queue(insert, row)
            tx.queue(insert, (*row[:2], None, *row[3:]))

    with pytest.raises(ConstraintViolation):
        await write_with_a_bad_row()
    async with driver_transaction(engine) as tx:
        tx.queue(insert, row)
    async with engine.connect() as connection:
        rows = await connection.scalar(select(func.count()).select_from(access_log))
    assert rows == 1


async def test_records_of_a_together_block_share_one_commit(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """Inside ``together()`` a record returns at once; the block's end waits for the commit of
    both records, written in one transaction."""
    group = GroupCommit(engine)
    log = SqlMessageLog(engine, cipher, group=group)
    access = AccessLogWriter(engine, KEY, group=group)
    async with group.together():
        await log.record(make_soap_exchange(dev_keys))
        await access.record(_entry(1))
        assert group.items == 0  # queued, not yet committed
    assert (group.transactions, group.items) == (1, 2)
    report = await verify_log(engine, cipher=cipher)
    assert report.intact, report.line()


async def test_a_failed_record_fails_its_together_block(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """A record that cannot be kept fails the block at its end, over the block's own error;
    without a failure the block's own error comes through."""
    group = GroupCommit(engine)
    log = SqlMessageLog(engine, cipher, group=group)
    access = AccessLogWriter(engine, KEY, group=group)

    async def failing_block() -> None:
        async with group.together():
            await log.record(make_soap_exchange(dev_keys))
            await access.record(_entry(1, client_id=None))
            raise LookupError("the block's own error")

    async def plain_block() -> None:
        async with group.together():
            await access.record(_entry(2))
            raise LookupError("the block's own error")

    with pytest.raises(ConstraintViolation):
        await failing_block()
    with pytest.raises(LookupError):
        await plain_block()
    report = await verify_log(engine, cipher=cipher)
    assert report.intact, report.line()
    assert report.records == 1


async def _access_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        rows = await connection.scalar(select(func.count()).select_from(access_log))
    return int(rows or 0)


class _NotingJournal:
    """A journal that writes nothing but notes what it was given; items starting with ``bad``
    fail their batch (LookupError naming the first); ``hold`` keeps a write waiting."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def write_batch(self, tx: DriverTransaction, items: Sequence[str]) -> Written:
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        bad = [item for item in items if item.startswith("bad")]
        if bad:
            raise LookupError(bad[0])
        self.written.extend(items)
        return Written([None] * len(items))


@dataclasses.dataclass(eq=True)
class _TaggingJournal:
    """A journal whose result of an item is the item tagged with its name, in order; journals
    of one name are equal (``__eq__``; unhashable), yet each writes its own items; ``short``
    gives one result too few."""

    name: str
    short: bool = False
    batches: list[list[str]] = dataclasses.field(default_factory=list)

    async def write_batch(self, tx: DriverTransaction, items: Sequence[str]) -> Written:
        self.batches.append(list(items))
        results = [f"{self.name}:{item}" for item in items]
        return Written(results[:-1] if self.short else results)


async def test_a_batch_is_sorted_out_among_its_journals_and_its_results_put_back(
    engine: AsyncEngine,
) -> None:
    """Items of several journals, interleaved (two journals equal but distinct among them):
    each journal writes its own items, in queue order, once per transaction, journals in the
    order they first come; every caller gets its own item's result; a journal giving one result
    too few fails the transaction (its items then fail one by one)."""
    group = GroupCommit(engine)
    first, second, twin = _TaggingJournal("a"), _TaggingJournal("b"), _TaggingJournal("a")
    order = [first, second, first, twin, second, second, first, twin]
    queued = [group.submit(journal, f"i{n}") for n, journal in enumerate(order)]
    results = await asyncio.gather(*queued)
    assert results == [f"{journal.name}:i{n}" for n, journal in enumerate(order)]
    assert first.batches == [["i0", "i2", "i6"]]  # one transaction: all queued before it began
    assert second.batches == [["i1", "i4", "i5"]]
    assert twin.batches == [["i3", "i7"]]
    short = _TaggingJournal("s", short=True)
    with pytest.raises(RuntimeError, match="one result per item"):
        await group.submit(short, "x")


async def test_a_together_block_raises_its_first_records_failure(engine: AsyncEngine) -> None:
    """Two records of a block fail (each alone, once their batch is split): the block raises
    the failure of the first recorded; the good record is committed."""
    group = GroupCommit(engine)
    journal = _NotingJournal()

    async def block() -> None:
        async with group.together():
            for item in ("ok", "bad-1", "bad-2"):
                await group.record(journal, item)

    with pytest.raises(LookupError, match="bad-1"):
        await block()
    assert journal.written == ["ok"]


async def test_a_cancelled_together_block_does_not_wait(engine: AsyncEngine) -> None:
    """A block cancelled while its end waits for the commit ends at once, cancelled; its
    records are still written once the transaction goes on."""
    group = GroupCommit(engine)
    journal = _NotingJournal()
    journal.hold = asyncio.Event()

    async def block() -> None:
        async with group.together():
            await group.record(journal, "a")
            await group.record(journal, "b")

    task = asyncio.create_task(block())
    await journal.entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    journal.hold.set()
    await group.aclose()
    assert journal.written == ["a", "b"]


async def test_a_failed_guard_rolls_back_what_was_queued_before_it(engine: AsyncEngine) -> None:
    """A guard that returns no row raises ``GuardFailed``: the row queued before it and the one
    after it are not kept, and the next transaction writes (the write lock is free)."""
    insert = StatementBuilder(access_log, engine.dialect).insert(
        ["citizen_key", "occurred_at", "client_id", "organisation", "operation", "fields"]
    )
    row = ("k" * 64, T0, "province-app", "UBND", "GetCitizen", ["citizen_id"])
    # the log is empty: no head row, so the guarded UPDATE … RETURNING finds none
    no_head = StatementBuilder(message_log_head, engine.dialect).update(
        ["updated_at"], where=["id"], returning=["seq"]
    )

    async def write_with_a_failing_guard() -> None:
        async with driver_transaction(engine) as tx:
            tx.queue(insert, row)
            tx.queue_guard(no_head, (T0, 1))
            tx.queue(insert, row)

    with pytest.raises(GuardFailed):
        await write_with_a_failing_guard()
    assert await _access_rows(engine) == 0
    async with driver_transaction(engine) as tx:
        tx.queue(insert, row)
    assert await _access_rows(engine) == 1


class _StaleJournal:
    """A journal whose guard never holds: it counts how often it was asked to write."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.writes = 0
        self._no_head = StatementBuilder(message_log_head, engine.dialect).update(
            ["updated_at"], where=["id"], returning=["seq"]
        )

    async def write_batch(self, tx: DriverTransaction, items: object) -> Written:
        self.writes += 1
        tx.queue_guard(self._no_head, (T0, 1))
        return Written([None])


async def test_a_batch_whose_guard_fails_is_written_again_once(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path
) -> None:
    """A failed guard makes the group commit write the batch once more, not forever: a journal
    whose guard fails twice fails its caller with ``GuardFailed``; the log still appends."""
    group = GroupCommit(engine)
    stale = _StaleJournal(engine)
    with pytest.raises(GuardFailed):
        await group.submit(stale, "item")
    assert stale.writes == 2
    log = SqlMessageLog(engine, cipher, group=group)
    assert await log.append(make_soap_exchange(dev_keys)) == 1


async def test_a_log_batch_is_one_trip_to_the_sqlite_driver_thread(
    tmp_path: Path, cipher: BodyCipher, dev_keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the message log knows its head, a lookup's exchange and access row are written in
    one job on aiosqlite's thread (begin, head, inserts, commit), and the connection goes back
    to the pool without a rollback; the chain holds."""
    trips: list[str] = []
    run_in_thread = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: object, *args: object) -> object:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await run_in_thread(self, fn, *args)

    async with log_engine(tmp_path / "data") as engine:
        logs = LookupLogs(engine, cipher, KEY)
        await logs.message_log.append(make_soap_exchange(dev_keys))  # reads the head
        exchanges = [make_soap_exchange(dev_keys) for _ in range(3)]
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        for n, exchange in enumerate(exchanges, start=1):
            async with logs.together():
                await logs.message_log.record(exchange)
                await logs.access_log.record(_entry(n))
        monkeypatch.undo()
        assert trips == ["_run_operations"] * 3
        report = await verify_log(engine, cipher=cipher)
        assert report.intact, report.line()
        assert report.records == 4
        assert await _access_rows(engine) == 3
        await logs.aclose()
