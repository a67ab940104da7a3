"""Group commit: what concurrent callers queue is written in shared transactions, one at a time.

The message log and the access log are written for every citizen lookup, and a lookup answers
only once its rows are committed. :class:`GroupCommit` gives both one queue: callers ``submit``
an item to a :class:`Journal` (the message log, the access log) and wait; one writer task takes
everything queued since its last commit (up to ``max_batch``), asks each journal to write its
items in one transaction on the driver (``driver_sql``), commits, and wakes the callers with
their results. Under load one transaction (one fsync on SQLite) serves many lookups, and the
message-log record of one lookup shares it with the access-log rows of others.

If a transaction fails, each of its items is retried alone, so that one bad item fails only its
own caller. A journal's ``on_commit`` runs only after its items are durable.

``record`` (the journals' ``record``) returns once the item is committed — except inside
``async with group.together():``, where it returns at once and the block's end waits for every
item recorded in it (in this task) and raises the first failure. A citizen lookup records its
exchange (inside the connector call) and its access-log row in one such block, so both usually
share one transaction and the answer waits for one commit instead of two in a row; it is still
sent only once both are durable, and a failed record still fails the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from store.message_log.driver_sql import DriverTransaction, driver_transaction

MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class Written:
    """What a journal wrote in a transaction: one result per item, and what to do once it is
    committed (e.g. remember the new head of a chain)."""

    results: Sequence[Any]
    on_commit: Callable[[], None] | None = None


class Journal(Protocol):
    """Something written through a :class:`GroupCommit` (the message log, the access log).

    A journal may also define ``failure(exc) -> Exception``: what its callers get when an item
    could not be written (by default the database's error itself).
    """

    async def write_batch(self, tx: DriverTransaction, items: Sequence[Any]) -> Written:
        """Write ``items`` in ``tx`` (in order); raising rolls the whole transaction back."""
        ...


_Entry = tuple[Journal, Any, "asyncio.Future[Any]"]


class _Together:
    """The items recorded inside one ``together()`` block."""

    def __init__(self, group: GroupCommit) -> None:
        self.group = group
        self.futures: list[asyncio.Future[Any]] = []


_together: contextvars.ContextVar[_Together | None] = contextvars.ContextVar(
    "lienthong_log_together", default=None
)


class GroupCommit:
    """One write queue on ``engine`` shared by several journals (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[_Entry] = []
        self._writer: asyncio.Task[None] | None = None
        #: transactions committed and items they held (for figures and tests)
        self.transactions = 0
        self.items = 0

    async def submit(self, journal: Journal, item: Any) -> Any:
        """Queue ``item`` for ``journal``; its result once the transaction holding it committed."""
        return await self._queue(journal, item)

    async def record(self, journal: Journal, item: Any) -> None:
        """Queue ``item``; return once it is committed, or at once inside :meth:`together`."""
        future = self._queue(journal, item)
        scope = _together.get()
        if scope is not None and scope.group is self:
            scope.futures.append(future)
            return
        await future

    @contextlib.asynccontextmanager
    async def together(self) -> AsyncIterator[None]:
        """A block whose records are committed together: its end waits for all of them.

        Raises the first record's failure (over the block's own exception, if any: a record that
        could not be kept fails the request). A cancelled block does not wait.
        """
        scope = _Together(self)
        token = _together.set(scope)
        try:
            yield
        except asyncio.CancelledError:
            _together.reset(token)
            raise
        except BaseException:
            _together.reset(token)
            await _settle(scope.futures)
            raise
        _together.reset(token)
        await _settle(scope.futures)

    def _queue(self, journal: Journal, item: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((journal, item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="log-group-commit")
        return future

    async def aclose(self) -> None:
        """Wait for the items already queued to be written."""
        if self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            self._pending = self._pending[self.max_batch :]
            try:
                await self._write_batch(batch)
            except asyncio.CancelledError:
                for _, _, future in [*batch, *self._pending]:
                    future.cancel()
                self._pending = []
                raise

    async def _write_batch(self, batch: list[_Entry]) -> None:
        try:
            outcomes = await self._commit(batch)
        except Exception as exc:
            if len(batch) > 1:
                for entry in batch:
                    await self._write_batch([entry])
                return
            for journal, _, future in batch:
                if not future.done():
                    translate = getattr(journal, "failure", None)
                    future.set_exception(translate(exc) if translate is not None else exc)
            return
        self.transactions += 1
        self.items += len(batch)
        for entries, written in outcomes:
            if written.on_commit is not None:
                written.on_commit()
            for (_, _, future), result in zip(entries, written.results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _commit(self, batch: list[_Entry]) -> list[tuple[list[_Entry], Written]]:
        """Write ``batch`` in one transaction, each journal's items together, in queue order."""
        groups: dict[int, tuple[Journal, list[_Entry]]] = {}
        for entry in batch:
            groups.setdefault(id(entry[0]), (entry[0], []))[1].append(entry)
        outcomes: list[tuple[list[_Entry], Written]] = []
        async with driver_transaction(self.engine) as tx:
            for journal, entries in groups.values():
                written = await journal.write_batch(tx, [item for _, item, _ in entries])
                if len(written.results) != len(entries):
                    raise RuntimeError("a journal must give one result per item")
                outcomes.append((entries, written))
        return outcomes


async def _settle(futures: list[asyncio.Future[Any]]) -> None:
    """Wait for ``futures``; raise the first failure among them."""
    if not futures:
        return
    for outcome in await asyncio.gather(*futures, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


__all__ = ["MAX_BATCH", "GroupCommit", "Journal", "Written"]
