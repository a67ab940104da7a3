"""The commit queue shared by the group commits (``store.batching``), on a fake commit."""

from __future__ import annotations

import asyncio

import pytest

from store.batching import CommitQueue, Written


class FakeStore:
    """Commits lists of strings; refuses any batch holding ``"bad"``; can be held mid-commit."""

    def __init__(self) -> None:
        self.committed: list[list[str]] = []
        self.attempts: list[list[str]] = []
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def commit(self, items: list[str]) -> Written:
        self.attempts.append(list(items))
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        if "bad" in items:
            raise LookupError("refused")
        return Written([item.upper() for item in items], lambda: self.committed.append(list(items)))


def _writer_tasks(name: str) -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == name]


async def test_what_is_queued_meanwhile_is_committed_in_batches_of_max_batch() -> None:
    """Items queued before the writer runs are committed in queue order, at most ``max_batch``
    per transaction, each future getting its own item's result; the counters say so."""
    store = FakeStore()
    queue: CommitQueue[str] = CommitQueue(store.commit, name="test-commit", max_batch=3)
    futures = [queue.put(f"i{n}") for n in range(7)]
    assert len(_writer_tasks("test-commit")) == 1
    results = await asyncio.gather(*futures)
    assert results == [f"I{n}" for n in range(7)]
    assert store.committed == [["i0", "i1", "i2"], ["i3", "i4", "i5"], ["i6"]]
    assert (queue.transactions, queue.items) == (3, 7)


async def test_a_busy_writer_batches_what_arrives_during_its_transaction() -> None:
    """No timer: the first item is committed alone at once, the items queued while its
    transaction runs share the next one."""
    store = FakeStore()
    store.hold = asyncio.Event()
    queue: CommitQueue[str] = CommitQueue(store.commit, name="test-commit", max_batch=10)
    first = queue.put("a")
    await store.entered.wait()
    later = [queue.put("b"), queue.put("c")]
    store.hold.set()
    assert await asyncio.gather(first, *later) == ["A", "B", "C"]
    assert store.committed == [["a"], ["b", "c"]]


async def test_a_failed_batch_is_retried_one_item_per_transaction() -> None:
    """A batch whose commit raises is retried item by item, in order, after ``split`` is told;
    only the bad item's future fails, with what ``failure`` made of the error."""
    store = FakeStore()
    splits: list[tuple[int, str]] = []

    def failure(item: str, exc: Exception) -> Exception:
        return RuntimeError(f"{item}: {type(exc).__name__}")

    queue: CommitQueue[str] = CommitQueue(
        store.commit,
        name="test-commit",
        max_batch=10,
        failure=failure,
        split=lambda size, exc: splits.append((size, type(exc).__name__)),
    )
    results = await asyncio.gather(
        queue.put("a"), queue.put("bad"), queue.put("c"), return_exceptions=True
    )
    assert results[0] == "A"
    assert isinstance(results[1], RuntimeError)
    assert str(results[1]) == "bad: LookupError"
    assert results[2] == "C"
    assert splits == [(3, "LookupError")]
    assert store.attempts == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
    assert (queue.transactions, queue.items) == (2, 2)


async def test_without_failure_a_lone_item_gets_the_error_itself() -> None:
    """With no ``failure`` translation, a lone item's future gets the commit's own error."""
    store = FakeStore()
    queue: CommitQueue[str] = CommitQueue(store.commit, name="test-commit", max_batch=10)
    with pytest.raises(LookupError, match="refused"):
        await queue.put("bad")
    assert (queue.transactions, queue.items) == (0, 0)


async def test_on_commit_runs_before_the_callers_wake() -> None:
    """A batch's ``on_commit`` has run by the time its callers get their results."""
    store = FakeStore()
    queue: CommitQueue[str] = CommitQueue(store.commit, name="test-commit", max_batch=10)
    assert await queue.put("a") == "A"
    assert store.committed == [["a"]]


async def test_a_caller_that_gave_up_does_not_break_the_batch() -> None:
    """A future cancelled by its caller is still written and skipped when results are set;
    the other items of its batch get theirs."""
    store = FakeStore()
    store.hold = asyncio.Event()
    queue: CommitQueue[str] = CommitQueue(store.commit, name="test-commit", max_batch=10)
    gone, kept = queue.put("a"), queue.put("b")
    await store.entered.wait()
    gone.cancel()
    store.hold.set()
    assert await asyncio.wait_for(kept, timeout=5) == "B"
    assert store.committed == [["a", "b"]]


async def test_cancelling_the_writer_cancels_its_batch_and_the_queue() -> None:
    """The writer task cancelled mid-commit cancels the futures of its batch and of the items
    queued behind it; a later item starts a new writer."""
    store = FakeStore()
    store.hold = asyncio.Event()
    queue: CommitQueue[str] = CommitQueue(store.commit, name="test-commit", max_batch=1)
    in_flight, queued = queue.put("a"), queue.put("b")
    await store.entered.wait()
    [writer] = _writer_tasks("test-commit")
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    assert in_flight.cancelled()
    assert queued.cancelled()
    store.hold = None
    assert await queue.put("c") == "C"
    assert store.committed == [["c"]]


async def test_aclose_waits_for_what_is_queued() -> None:
    """``aclose`` returns once every item queued before it is committed."""
    store = FakeStore()
    queue: CommitQueue[str] = CommitQueue(store.commit, name="test-commit", max_batch=2)
    futures = [queue.put(f"i{n}") for n in range(5)]
    await queue.aclose()
    assert all(future.done() for future in futures)
    assert queue.items == 5


def test_max_batch_must_be_positive() -> None:
    """A ``max_batch`` below 1 is refused when the queue is made."""
    store = FakeStore()
    with pytest.raises(ValueError, match="max_batch"):
        CommitQueue(store.commit, name="test-commit", max_batch=0)


class _Waiter:
    """A waiter of the caller's own (``CommitQueue.add``): it notes what it was given."""

    def __init__(self) -> None:
        self.given: list[tuple[str, object]] = []

    def done(self) -> bool:
        return bool(self.given)

    def set_result(self, result: object, /) -> None:
        self.given.append(("result", result))

    def set_exception(self, exception: BaseException, /) -> None:
        self.given.append(("exception", type(exception).__name__))

    def cancel(self) -> bool:
        self.given.append(("cancelled", None))
        return True


async def test_an_item_added_with_a_waiter_settles_it_as_a_future() -> None:
    """``add`` queues an item whose result, or failure after the split, goes to the waiter
    given, once; items with futures share the batch."""
    store = FakeStore()
    queue: CommitQueue[str] = CommitQueue(store.commit, name="test-commit", max_batch=10)
    good, bad = _Waiter(), _Waiter()
    queue.add("a", good)
    future = queue.put("b")
    queue.add("bad", bad)
    assert await future == "B"
    await queue.aclose()
    assert good.given == [("result", "A")]
    assert bad.given == [("exception", "LookupError")]
    assert store.committed == [["a"], ["b"]]


async def test_cancelling_the_writer_cancels_the_waiters_of_its_batch() -> None:
    """A waiter of the cancelled writer's batch, or queued behind it, is cancelled."""
    store = FakeStore()
    store.hold = asyncio.Event()
    queue: CommitQueue[str] = CommitQueue(store.commit, name="test-commit", max_batch=1)
    in_flight, queued = _Waiter(), _Waiter()
    queue.add("a", in_flight)
    queue.add("b", queued)
    await store.entered.wait()
    [writer] = _writer_tasks("test-commit")
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    assert in_flight.given == queued.given == [("cancelled", None)]
