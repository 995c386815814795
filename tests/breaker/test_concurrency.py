"""Real threads and real asyncio tasks through one breaker.

Timing assertions are behavioural and generous (a shared 2-core box): N callers of a slow call must
finish in far less than N call-times, which a lock held around the call would make impossible.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest

from resilience import BreakerConfig, CircuitBreaker, CircuitBreakerError, CircuitState, SlidingWindowType
from resilience._clock import ManualClock

CALL_TIME = 0.2
CALLERS = 8


@pytest.mark.parametrize("window", list(SlidingWindowType))
def test_threads_run_slow_calls_in_parallel(window: SlidingWindowType) -> None:
    breaker = CircuitBreaker(config=BreakerConfig(sliding_window_type=window, slow_call_duration_threshold=5))
    barrier = threading.Barrier(CALLERS)

    @breaker
    def slow() -> str:
        time.sleep(CALL_TIME)
        return "done"

    results: list[str] = []

    def caller() -> None:
        barrier.wait()
        results.append(slow())

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    assert results == ["done"] * CALLERS
    assert elapsed < CALLERS / 2 * CALL_TIME, f"{CALLERS} callers took {elapsed:.2f}s: calls were serialised"


def test_tasks_run_slow_calls_concurrently_without_blocking_the_loop() -> None:
    breaker = CircuitBreaker()
    tasks = 50

    @breaker
    async def slow() -> str:
        await asyncio.sleep(CALL_TIME)
        return "done"

    async def main() -> tuple[list[str], float, float]:
        gaps: list[float] = []
        stop = asyncio.Event()

        async def heartbeat() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        beat = asyncio.create_task(heartbeat())
        started = time.monotonic()
        results = await asyncio.gather(*(slow() for _ in range(tasks)))
        elapsed = time.monotonic() - started
        stop.set()
        await beat
        return list(results), elapsed, max(gaps)

    results, elapsed, worst_gap = asyncio.run(main())
    assert results == ["done"] * tasks
    assert elapsed < tasks / 2 * CALL_TIME
    assert worst_gap < CALL_TIME, "the event loop was blocked for a whole call"


def open_then_half_open(permitted: int) -> tuple[CircuitBreaker, ManualClock]:
    clock = ManualClock()
    config = BreakerConfig(
        failure_threshold=1,
        wait_duration_in_open_state=10,
        permitted_number_of_calls_in_half_open_state=permitted,
    )
    breaker = CircuitBreaker(name="race", config=config, clock=clock)
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    clock.advance(10)
    return breaker, clock


@pytest.mark.parametrize("permitted", [1, 3])
def test_exactly_the_permitted_probes_pass_when_threads_race(permitted: int) -> None:
    breaker, _ = open_then_half_open(permitted)
    racers = 16
    barrier = threading.Barrier(racers)
    release = threading.Event()
    admitted: list[int] = []
    rejected: list[CircuitBreakerError] = []
    lock = threading.Lock()

    def probe(i: int) -> int:
        with lock:
            admitted.append(i)
        release.wait(timeout=30)
        return i

    def racer(i: int) -> None:
        barrier.wait()
        try:
            breaker.call(probe, i)
        except CircuitBreakerError as error:
            with lock:
                rejected.append(error)
        if len(admitted) + len(rejected) == racers:
            release.set()

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    # every racer has either been admitted (and waits) or rejected before the probes finish
    deadline = time.monotonic() + 30
    while len(admitted) + len(rejected) < racers and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(admitted) == permitted
    assert len(rejected) == racers - permitted
    assert {(e.state, e.retry_after, e.name) for e in rejected} == {("HALF_OPEN", 0.0, "race")}
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize("permitted", [1, 2])
def test_exactly_the_permitted_probes_pass_when_tasks_race(permitted: int) -> None:
    breaker, _ = open_then_half_open(permitted)

    async def main() -> tuple[int, int]:
        release = asyncio.Event()
        admitted = 0

        @breaker
        async def probe() -> str:
            nonlocal admitted
            admitted += 1
            await release.wait()
            return "ok"

        tasks = [asyncio.create_task(probe()) for _ in range(20)]
        await asyncio.sleep(0.05)
        release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        rejected = sum(isinstance(r, CircuitBreakerError) and r.state == "HALF_OPEN" for r in results)
        return admitted, rejected

    admitted, rejected = asyncio.run(main())
    assert (admitted, rejected) == (permitted, 20 - permitted)
    assert breaker.state is CircuitState.CLOSED


def test_bookkeeping_is_exact_under_thread_contention() -> None:
    config = BreakerConfig(sliding_window_type=SlidingWindowType.COUNT_BASED, sliding_window_size=100_000)
    breaker = CircuitBreaker(config=config)
    breaker.metrics_only()  # record everything, never trip
    threads, per_thread = 4, 2_000

    @breaker
    def call(i: int) -> int:
        if i % 4 == 0:
            raise ValueError(i)
        return i

    def worker() -> None:
        for i in range(per_thread):
            with contextlib.suppress(ValueError):
                call(i)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    snapshot = breaker.snapshot()
    assert snapshot.calls == threads * per_thread
    assert snapshot.failures == threads * per_thread // 4
