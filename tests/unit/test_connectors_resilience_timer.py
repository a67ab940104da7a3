"""The attempt timer (``_AttemptTimer``) against ``asyncio.timeout``: the same outcome each time.

Each case runs one block under ``asyncio.timeout(seconds)`` and the same block under the plain
``with _AttemptTimer(seconds)`` that ``Resilience`` uses, in a task of its own, and compares what
came out: the result or the exception (and what it was raised from), and the task's pending
cancellations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from connectors.resilience import _AttemptTimer

Block = Callable[[], Awaitable[str]]


async def _outcome(kind: str, seconds: float, block: Block) -> tuple[object, ...]:
    async def timed() -> str:
        if kind == "asyncio":
            async with asyncio.timeout(seconds):
                return await block()
        with _AttemptTimer(seconds):
            return await block()

    task = asyncio.create_task(timed())
    try:
        result = await task
    except BaseException as exc:  # the outcome is what is compared
        cause = exc.__cause__
        return (type(exc).__name__, type(cause).__name__ if cause else None, task.cancelling())
    await asyncio.sleep(0.03)  # past any timer the block left behind: it must not fire
    return ("ok", result, task.cancelling(), task.cancelled())


async def _both(seconds: float, block: Block) -> tuple[object, ...]:
    expected = await _outcome("asyncio", seconds, block)
    found = await _outcome("timer", seconds, block)
    assert found == expected
    return found


async def test_a_block_done_in_time_returns_and_leaves_no_timer() -> None:
    async def block() -> str:
        await asyncio.sleep(0)
        return "answer"

    assert await _both(0.02, block) == ("ok", "answer", 0, False)


async def test_a_block_past_its_time_raises_timeout_from_the_cancellation() -> None:
    async def block() -> str:
        await asyncio.sleep(5)
        return "late"

    assert await _both(0.01, block) == ("TimeoutError", "CancelledError", 0)


@pytest.mark.parametrize("seconds", [0.0, -1.0])
async def test_no_time_left_times_out_at_the_first_wait(seconds: float) -> None:
    async def block() -> str:
        await asyncio.sleep(0.01)
        return "late"

    assert await _both(seconds, block) == ("TimeoutError", "CancelledError", 0)


async def test_a_cancellation_from_elsewhere_goes_through() -> None:
    async def block() -> str:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_later(0.005, task.cancel)
        await asyncio.sleep(5)
        return "late"

    assert await _both(1.0, block) == ("CancelledError", None, 1)


async def test_a_cancellation_from_elsewhere_as_the_time_is_up_goes_through() -> None:
    async def block() -> str:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # pending beside the timer's own, which fires at the next step
        await asyncio.sleep(5)
        return "late"

    assert await _both(0.0, block) == ("CancelledError", None, 1)


async def test_a_block_that_swallows_the_cancellation_returns() -> None:
    async def block() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "swallowed"
        return "late"

    assert await _both(0.01, block) == ("ok", "swallowed", 0, False)


async def test_an_error_raised_after_the_time_is_up_goes_through() -> None:
    async def block() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError as exc:
            raise ValueError("own error") from exc
        return "late"

    assert await _both(0.01, block) == ("ValueError", "CancelledError", 0)


def test_outside_a_task_the_timer_refuses_like_asyncio() -> None:
    async def outside() -> None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def enter() -> None:
            try:
                _AttemptTimer(1.0)
            except RuntimeError as exc:
                fut.set_result(str(exc))

        loop.call_soon(enter)
        assert await fut == "Timeout should be used inside a task"

    asyncio.run(outside())
