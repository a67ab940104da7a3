"""A commit queue: what concurrent callers queue, one writer task commits in shared transactions.

The gateway's group commits — the logs' (:mod:`store.batching.group_commit`) and the dossier
writes' (``store.dossier_queue``) — are each a :class:`CommitQueue` and a ``commit``
function of their own. A caller queues an item with ``put`` and awaits the future it gets back.
One writer task, started when an item arrives and none is running, takes everything queued (up to
``max_batch``, in queue order) and awaits ``commit(items)``, which writes them in one
transaction, commits, and returns a :class:`Written`: one result per item, in order, and what to
run once they are committed. Then each item's future gets its result. No timer: an idle writer
starts at once, a busy one batches what arrived while the previous transaction ran.

If ``commit`` raises, a batch of several items is retried one item per transaction, in order
(``split`` is told first), so that an item that cannot be written fails only its own future,
with ``failure(item, error)`` (the error itself by default). Cancelling the writer task cancels
the futures of its batch and of everything still queued.

``add(item, waiter)`` queues an item whose outcome goes to a :class:`Waiter` of the caller's
instead of a future of its own: the log group commit gives every record of one
``together()`` block a slot of that block's, so that the block waits on one future, not one per
record (``store.batching.group_commit``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class Waiter(Protocol):
    """What gets a queued item's outcome (an ``asyncio.Future`` is one): ``done()`` says it was
    settled already, and then nothing more is given to it."""

    def done(self) -> bool: ...
    def set_result(self, result: Any, /) -> None: ...
    def set_exception(self, exception: BaseException, /) -> None: ...
    def cancel(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Written:
    """What a transaction wrote: one result per item, and what to do once it is committed
    (e.g. remember the new head of a chain)."""

    results: Sequence[Any]
    on_commit: Callable[[], None] | None = None


class CommitQueue(Generic[T]):
    """Items committed in shared transactions by one writer task (see the module docstring).

    ``name`` names the writer task. ``split(size, error)`` is called when a batch of ``size``
    items failed as a whole, before its items are retried one by one.
    """

    def __init__(
        self,
        commit: Callable[[list[T]], Awaitable[Written]],
        *,
        name: str,
        max_batch: int,
        failure: Callable[[T, Exception], Exception] | None = None,
        split: Callable[[int, Exception], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self._commit = commit
        self._name = name
        self._failure = failure
        self._split = split
        # what is queued: the items and their waiters (futures, mostly), side by side
        self._queued: list[T] = []
        self._waiters: list[Waiter] = []
        self._writer: asyncio.Task[None] | None = None
        #: transactions committed and items they held (for figures and tests)
        self.transactions = 0
        self.items = 0

    def put(self, item: T) -> asyncio.Future[Any]:
        """Queue ``item``; its future gets its result once the transaction holding it committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.add(item, future)
        return future

    def add(self, item: T, waiter: Waiter) -> None:
        """Queue ``item``; ``waiter`` gets its result (or failure) as a future would."""
        self._queued.append(item)
        self._waiters.append(waiter)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name=self._name)

    async def aclose(self) -> None:
        """Wait for the items already queued to be written."""
        if self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _drain(self) -> None:
        while self._queued:
            size = self.max_batch
            items, waiters = self._queued[:size], self._waiters[:size]
            self._queued, self._waiters = self._queued[size:], self._waiters[size:]
            try:
                await self._write(items, waiters)
            except asyncio.CancelledError:
                for waiter in [*waiters, *self._waiters]:
                    waiter.cancel()
                self._queued, self._waiters = [], []
                raise

    async def _write(self, items: list[T], waiters: list[Waiter]) -> None:
        try:
            written = await self._commit(items)
        except Exception as exc:
            if len(items) > 1:
                if self._split is not None:
                    self._split(len(items), exc)
                for n in range(len(items)):
                    await self._write(items[n : n + 1], waiters[n : n + 1])
                return
            if not waiters[0].done():
                error = exc if self._failure is None else self._failure(items[0], exc)
                waiters[0].set_exception(error)
            return
        self.transactions += 1
        self.items += len(items)
        if written.on_commit is not None:
            written.on_commit()
        for waiter, result in zip(waiters, written.results, strict=True):
            if not waiter.done():
                waiter.set_result(result)


class QueueFigures:
    """``max_batch``, ``transactions`` and ``items`` of a class's ``_queue`` (for figures and
    tests), for the classes built on a :class:`CommitQueue`."""

    _queue: CommitQueue[Any]

    @property
    def max_batch(self) -> int:
        """The most items one transaction holds."""
        return self._queue.max_batch

    @property
    def transactions(self) -> int:
        """Transactions committed."""
        return self._queue.transactions

    @property
    def items(self) -> int:
        """Items the committed transactions held."""
        return self._queue.items


__all__ = ["CommitQueue", "QueueFigures", "Waiter", "Written"]
