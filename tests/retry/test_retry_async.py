"""Retry on ``async def`` functions and the async block form, on real event loops."""

from __future__ import annotations

import asyncio
import time

import pytest

from resilience._clock import MONOTONIC, ManualClock
from resilience.errors import RetryError
from resilience.retry import get_statistics, retry, retrying


def test_async_function_is_retried_with_async_sleeps(clock: ManualClock) -> None:
    calls = []

    @retry(max_attempts=3, jitter=None, clock=clock)
    async def fetch(x: int) -> int:
        calls.append(x)
        if len(calls) < 3:
            raise ConnectionError("refused")
        return x * 2

    assert asyncio.iscoroutinefunction(fetch)
    assert asyncio.run(fetch(21)) == 42
    assert calls == [21, 21, 21] and clock.sleeps == [1.0, 2.0]
    assert get_statistics(fetch).attempts == 3


def test_async_give_up_wraps(clock: ManualClock) -> None:
    @retry(max_attempts=2, wrap=True, clock=clock)
    async def down() -> None:
        raise ConnectionError("down")

    with pytest.raises(RetryError) as info:
        asyncio.run(down())
    assert isinstance(info.value.__cause__, ConnectionError)


def test_async_retry_on_result(clock: ManualClock) -> None:
    answers = iter([503, 503, 200])

    @retry(retry_on_result=lambda status: status == 503, jitter=None, clock=clock)
    async def status() -> int:
        return next(answers)

    assert asyncio.run(status()) == 200 and clock.sleeps == [1.0, 2.0]


def test_waiting_never_blocks_the_event_loop() -> None:
    """Two retrying calls wait for real (0.1 s then 0.2 s each) while a ticker keeps running."""
    ticks = 0
    done = asyncio.Event()

    @retry(max_attempts=3, base_delay=0.1, jitter=None, clock=MONOTONIC)
    async def down() -> None:
        raise ConnectionError("down")

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> list[BaseException | None]:
        tick = asyncio.create_task(ticker())
        results = await asyncio.gather(down(), down(), return_exceptions=True)
        done.set()
        await tick
        return results

    started = time.monotonic()
    results = asyncio.run(main())
    assert all(isinstance(r, ConnectionError) for r in results)
    assert time.monotonic() - started >= 0.3  # the waits really happened...
    assert ticks >= 10  # ...and the loop kept running (a blocking sleep would allow about 3 ticks)


def test_cancellation_is_not_retried() -> None:
    calls = []

    @retry(max_attempts=5, base_delay=10.0, clock=MONOTONIC)
    async def hang() -> None:
        calls.append(1)
        await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(hang())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert calls == [1]


def test_async_block_form(clock: ManualClock) -> None:
    async def main() -> list[int]:
        numbers = []
        async for attempt in retrying(max_attempts=4, jitter=None, clock=clock):
            with attempt:
                numbers.append(attempt.number)
                if attempt.number < 3:
                    raise OSError("again")
        return numbers

    assert asyncio.run(main()) == [1, 2, 3] and clock.sleeps == [1.0, 2.0]


def test_async_block_form_gives_up(clock: ManualClock) -> None:
    async def main() -> None:
        async for attempt in retrying(max_attempts=2, wrap=True, clock=clock):
            with attempt:
                raise OSError(attempt.number)

    with pytest.raises(RetryError):
        asyncio.run(main())


def test_objects_with_an_async_call_are_awaited(clock: ManualClock) -> None:
    class Client:
        def __init__(self) -> None:
            self.calls = 0

        async def __call__(self) -> str:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("first")
            return "ok"

    client = Client()
    assert asyncio.run(retry(clock=clock)(client)()) == "ok" and client.calls == 2
