"""Behaviour of one breaker, driven by a ManualClock: classification, fallback, half-open, backoff,
manual control, listeners and logging, the kill switch, and async use."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest

import resilience
from resilience import BreakerConfig, CircuitBreaker, CircuitBreakerError, CircuitState, SlidingWindowType
from resilience._clock import ManualClock
from resilience._window import Snapshot
from resilience.breaker import CallOutcome, StateTransition, Verdict, evaluate


def fail() -> None:
    raise ConnectionError("upstream down")


def ok() -> str:
    return "ok"


def trip(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(fail)


def test_consecutive_model_opens_after_threshold_and_rejects_with_retry_after() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(3, 10, name="svc", clock=clock)
    trip(breaker, 2)
    assert breaker.call(ok) == "ok"  # a success resets the run
    trip(breaker, 3)
    assert breaker.state is CircuitState.OPEN
    clock.advance(4)
    with pytest.raises(CircuitBreakerError) as info:
        breaker.call(ok)
    assert (info.value.name, info.value.state, info.value.retry_after) == ("svc", "OPEN", 6.0)
    assert info.value.http_status == 503 and info.value.code == "CIRCUIT_OPEN"
    assert breaker.retry_after == 6.0


def test_rejection_has_the_same_attributes_as_the_constructor() -> None:
    breaker = CircuitBreaker(1, 10, name="svc", clock=ManualClock())
    trip(breaker, 1)
    with pytest.raises(CircuitBreakerError) as info:
        breaker.call(ok)
    built = CircuitBreakerError(info.value.message, name="svc", state="OPEN", retry_after=10.0)
    assert vars(info.value) == vars(built)
    assert info.value.args == built.args and str(info.value) == str(built)


def test_half_open_admits_the_permitted_probes_then_closes_or_reopens() -> None:
    clock = ManualClock()
    config = BreakerConfig(
        failure_threshold=1, wait_duration_in_open_state=5, permitted_number_of_calls_in_half_open_state=2
    )
    breaker = CircuitBreaker(config=config, clock=clock)
    trip(breaker, 1)
    clock.advance(5)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.call(ok) == "ok"
    assert breaker.state is CircuitState.HALF_OPEN  # one of two probes done
    assert breaker.call(ok) == "ok"
    assert breaker.state is CircuitState.CLOSED
    trip(breaker, 1)
    clock.advance(5)
    trip(breaker, 1)  # a failed probe re-opens
    assert breaker.state is CircuitState.OPEN


def test_open_duration_grows_on_repeated_trips_up_to_the_cap_and_resets_on_close() -> None:
    clock = ManualClock()
    config = BreakerConfig(
        failure_threshold=1,
        wait_duration_in_open_state=2,
        wait_duration_multiplier=3,
        max_wait_duration_in_open_state=10,
    )
    breaker = CircuitBreaker(config=config, clock=clock)
    waits = []
    trip(breaker, 1)
    for _ in range(3):
        waits.append(breaker.retry_after)
        clock.advance(breaker.retry_after)
        trip(breaker, 1)  # the probe fails
    assert waits == [2, 6, 10]
    clock.advance(10)
    breaker.call(ok)
    trip(breaker, 1)
    assert breaker.retry_after == 2


def test_max_wait_in_half_open_reopens_when_a_probe_hangs() -> None:
    clock = ManualClock()
    config = BreakerConfig(
        failure_threshold=1, wait_duration_in_open_state=1, max_wait_duration_in_half_open_state=3
    )
    breaker = CircuitBreaker(config=config, clock=clock)
    trip(breaker, 1)
    clock.advance(1)

    def hangs() -> str:
        clock.advance(3)  # the probe takes longer than the half-open limit
        return "late"

    assert breaker.call(hangs) == "late"
    assert breaker.state is CircuitState.OPEN  # the late success belongs to an old epoch


def test_classification_record_ignore_and_result_predicate() -> None:
    @dataclass
    class Response:
        status: int

    config = BreakerConfig(
        failure_threshold=2,
        record_exceptions=(ConnectionError,),
        ignore_exceptions=(ConnectionResetError,),
        record_result=lambda r: r.status >= 500,
    )
    breaker = CircuitBreaker(config=config, clock=ManualClock())
    for error in (ConnectionResetError(), ValueError()):  # ignored / not recorded
        with pytest.raises(type(error)):
            breaker.call(lambda e=error: (_ for _ in ()).throw(e))
    assert breaker.failure_count == 0
    assert breaker.call(lambda: Response(503)).status == 503
    assert breaker.failure_count == 1
    assert breaker.call(lambda: Response(503)).status == 503
    assert breaker.state is CircuitState.OPEN


def test_slow_calls_count_in_the_count_window() -> None:
    clock = ManualClock()
    config = BreakerConfig(
        sliding_window_type=SlidingWindowType.COUNT_BASED,
        sliding_window_size=4,
        minimum_number_of_calls=4,
        slow_call_duration_threshold=1.0,
        slow_call_rate_threshold=50,
    )
    breaker = CircuitBreaker(config=config, clock=clock)

    def slow() -> str:
        clock.advance(1.5)
        return "slow"

    for func in (ok, slow, ok):
        breaker.call(func)
    assert breaker.state is CircuitState.CLOSED
    breaker.call(slow)
    assert breaker.state is CircuitState.OPEN
    assert breaker.get_state()["slow_calls"] == 2


def test_time_window_forgets_old_failures() -> None:
    clock = ManualClock()
    config = BreakerConfig(
        sliding_window_type=SlidingWindowType.TIME_BASED, sliding_window_size=10, minimum_number_of_calls=3
    )
    breaker = CircuitBreaker(config=config, clock=clock)
    trip(breaker, 2)
    clock.advance(11)
    breaker.call(ok)
    assert breaker.get_state()["failure_count"] == 0
    trip(breaker, 2)
    assert breaker.state is CircuitState.OPEN


def test_evaluate_is_pure_and_names_the_reason() -> None:
    config = BreakerConfig(
        sliding_window_type=SlidingWindowType.COUNT_BASED,
        sliding_window_size=10,
        minimum_number_of_calls=4,
        slow_call_duration_threshold=1,
        slow_call_rate_threshold=50,
    )
    assert evaluate(Snapshot(3, 3, 3), config) is Verdict.BELOW_MINIMUM_CALLS
    assert evaluate(Snapshot(4, 1, 1), config) is Verdict.BELOW_THRESHOLDS
    assert evaluate(Snapshot(4, 2, 0), config) is Verdict.FAILURE_RATE_ABOVE_THRESHOLD
    assert evaluate(Snapshot(4, 0, 2), config) is Verdict.SLOW_CALL_RATE_ABOVE_THRESHOLD
    assert evaluate(Snapshot(4, 2, 2), config).trips


def test_fallback_on_rejection_and_on_failure_sync_and_async() -> None:
    breaker = CircuitBreaker(1, 30, fallback_function=lambda x: f"fallback {x}", clock=ManualClock())

    @breaker
    def get(x: int) -> str:
        raise ConnectionError

    assert get(1) == "fallback 1"  # failure -> fallback, and the breaker opens
    assert get(2) == "fallback 2"  # rejection -> fallback

    async def afallback(x: int) -> str:
        return f"async fallback {x}"

    abreaker = CircuitBreaker(1, 30, fallback_function=afallback, clock=ManualClock())

    @abreaker
    async def aget(x: int) -> str:
        raise ConnectionError

    assert asyncio.run(aget(1)) == "async fallback 1"
    assert asyncio.run(aget(2)) == "async fallback 2"
    assert abreaker.state is CircuitState.OPEN


def test_manual_control() -> None:
    breaker = CircuitBreaker(1, 30, clock=ManualClock())
    breaker.force_open()
    with pytest.raises(CircuitBreakerError) as info:
        breaker.call(ok)
    assert info.value.state == "FORCED_OPEN"
    breaker.disable()
    trip(breaker, 3)
    assert breaker.state is CircuitState.DISABLED
    breaker.metrics_only()
    trip(breaker, 3)
    assert breaker.state is CircuitState.METRICS_ONLY and breaker.failure_count == 3
    breaker.reset()
    assert breaker.get_state()["state"] == "CLOSED" and breaker.failure_count == 0
    breaker.force_closed()
    assert breaker.state is CircuitState.DISABLED


def test_listeners_and_logging_announce_transitions_and_a_failing_listener_is_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[StateTransition] = []

    def broken(event: StateTransition) -> None:
        raise RuntimeError("listener bug")

    breaker = CircuitBreaker(1, 30, name="svc", clock=ManualClock(), listeners=[broken, seen.append])
    with caplog.at_level(logging.INFO, logger="resilience.breaker"):
        trip(breaker, 1)
    assert [(e.from_state, e.to_state, e.reason) for e in seen] == [
        (CircuitState.CLOSED, CircuitState.OPEN, "consecutive failure threshold reached")
    ]
    assert seen[0].retry_after == 30 and not seen[0].manual
    messages = [r.getMessage() for r in caplog.records]
    assert "circuit breaker 'svc': CLOSED -> OPEN (consecutive failure threshold reached)" in messages
    assert any("listener" in m and "failed" in m for m in messages)


def test_call_hooks_see_every_outcome() -> None:
    outcomes: list[CallOutcome] = []
    breaker = CircuitBreaker(1, 30, clock=ManualClock())
    breaker.add_call_hook(lambda event: outcomes.append(event.outcome))
    breaker.call(ok)
    trip(breaker, 1)
    with pytest.raises(CircuitBreakerError):
        breaker.call(ok)
    assert outcomes == [CallOutcome.SUCCESS, CallOutcome.FAILURE, CallOutcome.REJECTED]


def test_kill_switch_passes_calls_straight_through() -> None:
    breaker = CircuitBreaker(1, 30, clock=ManualClock())
    trip(breaker, 1)
    resilience.set_active(False)
    try:
        assert breaker.call(ok) == "ok"
        trip(breaker, 2)
    finally:
        resilience.set_active(True)
    with pytest.raises(CircuitBreakerError):
        breaker.call(ok)


def test_async_decorator_keeps_the_coroutine_function_and_metadata() -> None:
    breaker = CircuitBreaker(2, 30, clock=ManualClock())

    @breaker
    async def fetch(x: int) -> int:
        """Docs."""
        await asyncio.sleep(0)
        return x * 2

    assert asyncio.iscoroutinefunction(fetch) and fetch.__name__ == "fetch" and fetch.__doc__ == "Docs."
    assert asyncio.run(fetch(21)) == 42
    assert asyncio.run(breaker.acall(fetch, 5)) == 10


def test_cancelled_probe_frees_its_slot() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(1, 1, clock=clock)
    trip(breaker, 1)
    clock.advance(1)

    async def main() -> str:
        started = asyncio.Event()

        async def hang() -> str:
            started.set()
            await asyncio.sleep(60)
            return "never"

        task = asyncio.create_task(breaker.acall(hang))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await breaker.acall(asyncio.sleep, 0, "probe")

    assert asyncio.run(main()) == "probe"
    assert breaker.state is CircuitState.CLOSED


def test_constructor_rejects_conflicting_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match="not both"):
        CircuitBreaker(3, config=BreakerConfig())
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(0)
    with pytest.raises(ValueError, match="recovery_timeout"):
        CircuitBreaker(3, -1)
    with pytest.raises(ValueError, match="fallback_function"):
        CircuitBreaker(fallback_function="nope")  # type: ignore[arg-type]
