"""Group commit: what concurrent callers queue is written in shared transactions, one at a time.

The message log and the access log are written for every citizen lookup, and a lookup answers
only once its rows are committed. :class:`GroupCommit` gives both one queue: callers ``submit``
an item to a :class:`Journal` (the message log, the access log) and wait; one writer task takes
everything queued since its last commit (up to ``max_batch``), asks each journal to write its
items in one transaction on the driver (:mod:`store.batching.driver`), commits, and wakes the
callers with their results. Under load one transaction (one fsync on SQLite) serves many
lookups, and the message-log record of one lookup shares it with the access-log rows of others.
The queue and its writer task are a :class:`~store.batching.commit_queue.CommitQueue`; the
journals and ``together`` are this module's own.

A transaction is one trip to the driver's thread on SQLite when no journal needs a row back
before the commit (the message log checks its head with a guard, ``queue_guard``: a moved head
fails the transaction, which is written again once). If a transaction fails, each of its items
is retried alone, so that one bad item fails only its own caller. A journal's ``on_commit`` runs
only after its items are durable.

``record`` (the journals' ``record``) returns once the item is committed — except inside
``async with group.together():``, where it returns at once and the block's end waits for every
item recorded in it (in this task) and raises the first failure. A citizen lookup records its
exchange (inside the connector call) and its access-log row in one such block, so both usually
share one transaction and the answer waits for one commit instead of two in a row; it is still
sent only once both are durable, and a failed record still fails the request.
"""

from __future__ import annotations

import asyncio
import contextvars
import operator
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from itertools import compress
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from store.batching.commit_queue import CommitQueue, QueueFigures, Written
from store.batching.driver import DriverTransaction, GuardFailed, driver_transaction

MAX_BATCH = 256


class Journal(Protocol):
    """Something written through a :class:`GroupCommit` (the message log, the access log).

    A journal may also define ``failure(exc) -> Exception``: what its callers get when an item
    could not be written (by default the database's error itself).
    """

    async def write_batch(self, tx: DriverTransaction, items: Sequence[Any]) -> Written:
        """Write ``items`` in ``tx`` (in order); raising rolls the whole transaction back.

        A guard it queued (``tx.queue_guard``) that fails rolls the transaction back too, and
        the batch is written again once: the journal must then read afresh what the guard
        checked.
        """
        ...


_Item = tuple[Journal, Any]


class _Together:
    """One ``together()`` block: its records, and one future its end waits on for all of them.

    Each record gets a :class:`_Slot` of the block's as its waiter in the commit queue (not a
    future of its own; a slot made is the block's next record); the block's end waits, if any
    record is unsettled, on one future that the last to settle resolves, then raises the failure
    of the first record that failed.
    """

    __slots__ = ("_count", "_failures", "_future", "_token", "_unsettled", "group")

    def __init__(self, group: GroupCommit) -> None:
        self.group = group
        self._count = 0
        self._unsettled = 0
        # (the record's number in the block, its failure): the first one is raised
        self._failures: list[tuple[int, BaseException]] = []
        self._future: asyncio.Future[None] | None = None
        self._token: contextvars.Token[_Together | None] | None = None

    def settled(self, number: int, failure: BaseException | None) -> None:
        """Record ``number`` was committed (``failure`` None) or failed."""
        if failure is not None:
            self._failures.append((number, failure))
        self._unsettled -= 1
        if not self._unsettled:
            self._wake()

    def _wake(self) -> None:
        """Every record is settled: the block's end goes on, if it waits."""
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    async def __aenter__(self) -> None:
        self._token = _together.set(self)

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """Wait for the block's records and raise the first failure, over the block's own
        exception if any (a record that could not be kept fails the request); a cancelled
        block does not wait."""
        if self._token is not None:
            _together.reset(self._token)
            self._token = None
        if kind is not None and issubclass(kind, asyncio.CancelledError):
            return
        if self._unsettled:
            self._future = asyncio.get_running_loop().create_future()
            await self._future
        if self._failures:
            raise min(self._failures, key=lambda failure: failure[0])[1]


class _Slot:
    """The waiter of one record of a ``together()`` block (``store.batching.Waiter``): made,
    it is the block's next record (numbered, counted unsettled)."""

    __slots__ = ("_block", "_done", "_number")

    def __init__(self, block: _Together) -> None:
        self._block = block
        self._number = block._count
        block._count += 1
        block._unsettled += 1
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, result: Any, /) -> None:
        # ``_settle(None)`` and the block's ``settled``, written out: every record of a
        # lookup is settled here
        if not self._done:
            self._done = True
            block = self._block
            block._unsettled -= 1
            if not block._unsettled:
                block._wake()

    def set_exception(self, exception: BaseException, /) -> None:
        self._settle(exception)

    def cancel(self) -> bool:
        if self._done:
            return False
        self._settle(asyncio.CancelledError())
        return True

    def _settle(self, failure: BaseException | None) -> None:
        if not self._done:
            self._done = True
            self._block.settled(self._number, failure)


_together: contextvars.ContextVar[_Together | None] = contextvars.ContextVar(
    "lienthong_log_together", default=None
)


class GroupCommit(QueueFigures):
    """One write queue on ``engine`` shared by several journals (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self._queue: CommitQueue[_Item] = CommitQueue(
            self._commit, name="log-group-commit", max_batch=max_batch, failure=_failure
        )

    async def submit(self, journal: Journal, item: Any) -> Any:
        """Queue ``item`` for ``journal``; its result once the transaction holding it committed."""
        return await self._queue.put((journal, item))

    async def record(self, journal: Journal, item: Any) -> None:
        """Queue ``item``; return once it is committed, or at once inside :meth:`together`."""
        scope = _together.get()
        if scope is not None and scope.group is self:
            self._queue.add((journal, item), _Slot(scope))
            return
        await self._queue.put((journal, item))

    def together(self) -> AbstractAsyncContextManager[None]:
        """A block whose records are committed together: its end waits for all of them.

        Raises the first record's failure (over the block's own exception, if any: a record that
        could not be kept fails the request). A cancelled block does not wait.
        """
        return _Together(self)

    async def aclose(self) -> None:
        """Wait for the items already queued to be written."""
        await self._queue.aclose()

    async def _commit(self, batch: list[_Item]) -> Written:
        """Write ``batch`` in one transaction; once more if a journal's guard failed (what it
        had remembered was stale: it reads afresh the second time)."""
        try:
            return await self._write(batch)
        except GuardFailed:
            return await self._write(batch)

    async def _write(self, batch: list[_Item]) -> Written:
        """Write ``batch`` in one transaction, each journal's items together, in queue order.

        The journals are told apart by identity, in the order they first come in the batch;
        the items are sorted out among them, and their results put back in place, without a
        Python step per item (a batch holds a few items per lookup in flight).
        """
        journals = list(map(_journal_of, batch))
        items = list(map(_item_of, batch))
        keys = list(map(id, journals))
        places = range(len(batch))
        # each item's result, by its place in the batch
        results_at: dict[int, Any] = {}
        hooks: list[Callable[[], None]] = []
        async with driver_transaction(self.engine) as tx:
            for key in dict.fromkeys(keys):
                # the journal's items: the places whose key is its key (``int.__eq__``, in C)
                mine = list(map(key.__eq__, keys))
                indexes = list(compress(places, mine))
                written = await journals[indexes[0]].write_batch(tx, list(compress(items, mine)))
                if len(written.results) != len(indexes):
                    raise RuntimeError("a journal must give one result per item")
                results_at.update(zip(indexes, written.results, strict=True))
                if written.on_commit is not None:
                    hooks.append(written.on_commit)
        results = list(map(results_at.__getitem__, places))

        def committed() -> None:
            for hook in hooks:
                hook()

        return Written(results, committed)


#: the journal and the item of a queued pair
_journal_of = operator.itemgetter(0)
_item_of = operator.itemgetter(1)


def _failure(item: _Item, exc: Exception) -> Exception:
    """What the caller of ``item`` gets: its journal's ``failure(exc)``, else ``exc`` itself."""
    translate: Callable[[Exception], Exception] | None = getattr(item[0], "failure", None)
    return translate(exc) if translate is not None else exc


__all__ = ["MAX_BATCH", "GroupCommit", "Journal", "Written"]
