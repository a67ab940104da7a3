"""The slot counter under the upstream limiter and the HTTP pool: FIFO, cancellation, no leak."""

from __future__ import annotations

import asyncio
import random

import pytest

from connectors.resilience import ConcurrencyLimiter
from connectors.slots import Slots


async def _hold(slots: Slots, name: str, order: list[str], gate: asyncio.Event) -> None:
    await slots.acquire()
    try:
        order.append(name)
        await gate.wait()
    finally:
        slots.release()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Slots(0)


async def test_a_free_slot_is_taken_without_waiting() -> None:
    slots = Slots(2)
    assert slots.take() is None
    assert slots.take() is None
    waiter = slots.take()
    assert waiter is not None
    assert not waiter.done()
    assert slots.in_use == 2
    slots.release()  # handed over: the count stays
    assert waiter.done()
    assert slots.in_use == 2
    slots.release()
    slots.release()
    assert slots.in_use == 0


async def test_waiters_are_served_first_come_first_served() -> None:
    slots = Slots(1)
    order: list[str] = []
    gate = asyncio.Event()
    tasks = []
    for name in "abcde":
        tasks.append(asyncio.create_task(_hold(slots, name, order, gate)))
        await asyncio.sleep(0)
    assert order == ["a"]
    gate.set()
    await asyncio.gather(*tasks)
    assert order == list("abcde")
    assert slots.in_use == 0


async def test_a_newcomer_does_not_take_a_slot_past_a_waiter() -> None:
    slots = Slots(1)
    assert slots.take() is None
    first = slots.take()
    assert first is not None
    slots.release()  # to the waiter, not to whoever asks next
    assert slots.take() is not None
    assert first.result() is None


async def test_a_waiter_cancelled_while_waiting_holds_no_slot() -> None:
    slots = Slots(1)
    order: list[str] = []
    gate = asyncio.Event()
    holder = asyncio.create_task(_hold(slots, "holder", order, gate))
    await _settle()
    cancelled = asyncio.create_task(_hold(slots, "cancelled", order, gate))
    after = asyncio.create_task(_hold(slots, "after", order, gate))
    await _settle()
    cancelled.cancel()
    await _settle()
    gate.set()
    await asyncio.gather(holder, after)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert order == ["holder", "after"]
    assert slots.in_use == 0


async def test_a_slot_handed_to_a_cancelled_waiter_passes_on() -> None:
    """Cancelled after the hand-over, before it resumed: the slot goes to the next waiter."""
    slots = Slots(1)
    assert slots.take() is None
    order: list[str] = []
    gate = asyncio.Event()
    gate.set()
    handed = asyncio.create_task(_hold(slots, "handed", order, gate))
    after = asyncio.create_task(_hold(slots, "after", order, gate))
    await _settle()
    slots.release()  # to ``handed``, whose task has not run since
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    await after
    assert order == ["after"]
    assert slots.in_use == 0


async def test_an_exception_in_the_holder_gives_the_slot_back() -> None:
    limiter = ConcurrencyLimiter(1)

    async def failing() -> None:
        async with limiter:
            raise RuntimeError("boom")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            await failing()
    assert limiter.in_flight == 0
    assert limiter.take() is None
    limiter.release()


async def test_a_timeout_while_waiting_leaks_no_slot() -> None:
    limiter = ConcurrencyLimiter(1)
    assert limiter.take() is None

    async def wait_in_vain() -> None:
        async with asyncio.timeout(0.01), limiter:
            pass  # pragma: no cover

    with pytest.raises(TimeoutError):
        await wait_in_vain()
    limiter.release()
    assert limiter.in_flight == 0


@pytest.mark.parametrize("limit", [1, 3, 8])
async def test_the_limit_is_never_exceeded_under_many_tasks(limit: int) -> None:
    """Many tasks, random holding times, some cancelled while waiting or holding."""
    randomness = random.Random(limit)
    limiter = ConcurrencyLimiter(limit)
    running = 0
    peak = 0
    done = 0

    async def one(pause: float) -> None:
        nonlocal running, peak, done
        async with limiter:
            running += 1
            peak = max(peak, running)
            try:
                await asyncio.sleep(pause)
            finally:
                running -= 1
        done += 1

    tasks = [asyncio.create_task(one(randomness.choice((0, 0, 0.001, 0.002)))) for _ in range(200)]
    await asyncio.sleep(0.002)
    for task in randomness.sample(tasks, 40):
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    cancelled = sum(isinstance(result, asyncio.CancelledError) for result in results)
    assert peak == limit
    assert done + cancelled == 200
    assert limiter.in_flight == 0
    assert limiter.take() is None  # every slot came back
    limiter.release()


async def test_the_limiter_starts_afresh_on_a_new_loop() -> None:
    limiter = ConcurrencyLimiter(1)
    assert limiter.take() is None

    def other_loop() -> int:
        async def take() -> int:
            assert limiter.take() is None
            limiter.release()
            return limiter.in_flight

        return asyncio.run(take())

    assert await asyncio.to_thread(other_loop) == 0
