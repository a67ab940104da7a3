"""A counter of slots with a FIFO queue of waiters: a free slot is taken without a coroutine.

``asyncio.Semaphore`` used as ``async with`` costs two coroutines (``__aenter__`` and
``acquire``) and a third on exit, on every call, even when a slot is free. :class:`Slots` gives
a free slot from a plain call (:meth:`Slots.take` returns ``None``) and only a caller that must
wait awaits something (the future :meth:`Slots.take` returns, through :meth:`Slots.wait`).

* **FIFO**: waiters are served in the order they asked; a free slot is not taken past a waiter.
* **Hand-over**: :meth:`Slots.release` passes the slot straight to the first waiter still
  waiting (the count of slots in use does not drop and rise again, so no newcomer takes it).
* **Cancellation**: a waiter cancelled before the hand-over is skipped; one cancelled after it
  (its future resolved, its task not yet resumed) gives the slot back, which passes it on.
  Either way no slot is lost.

Not thread-safe: one :class:`Slots` serves the tasks of one event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    """At most ``limit`` holders at once; the others wait their turn (module docstring)."""

    __slots__ = ("_waiters", "in_use", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a limit of slots must be at least 1")
        self.limit = limit
        #: slots held (handed over ones included)
        self.in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> asyncio.Future[None] | None:
        """A free slot, now (``None``), or the future to pass to :meth:`wait` for one."""
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    async def wait(self, waiter: asyncio.Future[None]) -> None:
        """Wait for the slot ``waiter`` stands for; a cancelled wait holds no slot."""
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over, then cancelled before it resumed: pass it on
            else:
                waiter.cancel()  # skipped by release; removed from the queue when reached
            raise

    def release(self) -> None:
        """Give a slot back: to the first waiter still waiting, else to the free ones."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_use -= 1

    async def acquire(self) -> None:
        """Take a slot, waiting for one if none is free (for callers that await anyway)."""
        waiter = self.take()
        if waiter is not None:
            await self.wait(waiter)


__all__ = ["Slots"]
