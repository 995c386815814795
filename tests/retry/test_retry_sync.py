"""Retry decorator and block form on plain functions, with a manual clock (no real waiting)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

import resilience
from resilience._clock import ManualClock
from resilience.errors import (
    CircuitBreakerError,
    RetryBudgetExhaustedError,
    RetryError,
    UpstreamTimeoutError,
)
from resilience.instrumentation.retry import register_prometheus
from resilience.retry import (
    GiveUpReason,
    NonRetryableError,
    RetryableError,
    RetryBudget,
    RetryEvent,
    get_statistics,
    retry,
    retrying,
)

from .conftest import Upstream


class Flaky:
    """Fails with the given errors in order, then returns ``"ok"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class TemporaryDatabaseError(RetryableError):
    pass


def test_seed_example_unchanged(clock: ManualClock) -> None:
    flaky = Flaky(TemporaryDatabaseError("locked"), TemporaryDatabaseError("locked"))

    @retry(max_attempts=3, retry_exceptions=TemporaryDatabaseError, base_delay=1.0, backoff_factor=2.0,
           jitter=True, clock=clock)  # fmt: skip
    def save_data(data: dict[str, str]) -> str:
        return flaky(data)

    assert save_data({"key": "value"}) == "ok"
    assert flaky.calls == 3
    assert 0.5 <= clock.sleeps[0] <= 1.0 and 1.0 <= clock.sleeps[1] <= 2.0
    assert save_data.__name__ == "save_data"


def test_exhausted_attempts_reraise_the_last_error_by_default(clock: ManualClock) -> None:
    flaky = Flaky(ValueError("1"), ValueError("2"), ValueError("3"))
    wrapped = retry(max_attempts=3, jitter=None, clock=clock)(flaky)
    with pytest.raises(ValueError, match="3"):
        wrapped()
    assert clock.sleeps == [1.0, 2.0]
    stats = get_statistics(wrapped)
    assert (stats.calls, stats.attempts, stats.retries) == (1, 3, 2)
    assert stats.give_ups == {"attempts": 1}
    assert stats.errors == {"ValueError": 2}


@pytest.mark.parametrize("spec", [[KeyError, ValueError], (KeyError, ValueError), ValueError])
def test_retry_exceptions_accepts_class_tuple_and_list(clock: ManualClock, spec: object) -> None:
    flaky = Flaky(ValueError(), ValueError())
    assert retry(retry_exceptions=spec, clock=clock)(flaky)() == "ok"  # type: ignore[arg-type]
    other = Flaky(OSError("not listed"))
    with pytest.raises(OSError):
        retry(retry_exceptions=spec, clock=clock)(other)()  # type: ignore[arg-type]
    assert other.calls == 1


def test_non_retryable_is_never_retried_and_retryable_always_is(clock: ManualClock) -> None:
    class BadRequest(NonRetryableError):
        pass

    bad = Flaky(BadRequest("400"))
    with pytest.raises(BadRequest):
        retry(retry_exceptions=Exception, wrap=True, clock=clock)(bad)()
    assert bad.calls == 1 and clock.sleeps == []
    assert retry(retry_exceptions=KeyError, clock=clock)(Flaky(TemporaryDatabaseError()))() == "ok"


def test_base_exceptions_are_not_retried(clock: ManualClock) -> None:
    interrupted = Flaky(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        retry(retry_exceptions=BaseException, clock=clock)(interrupted)()
    assert interrupted.calls == 1


def test_wrap_raises_retry_error_from_the_last_error(clock: ManualClock) -> None:
    with pytest.raises(RetryError) as info:
        retry(max_attempts=2, wrap=True, clock=clock, name="users")(Flaky(OSError("a"), OSError("b")))()
    assert type(info.value) is RetryError
    assert isinstance(info.value.__cause__, OSError) and str(info.value.__cause__) == "b"
    assert info.value.context == {"name": "users", "attempts": 2, "reason": "attempts"}
    assert info.value.http_status == 502


def test_wrap_timeout_errors_become_upstream_timeout(clock: ManualClock) -> None:
    errors = [httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow")]
    with pytest.raises(UpstreamTimeoutError) as info:
        retry(max_attempts=2, wrap=True, clock=clock)(Flaky(*errors))()
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert info.value.http_status == 504


def test_total_time_budget_stops_before_overrunning(clock: ManualClock) -> None:
    flaky = Flaky(*[OSError()] * 10)
    with pytest.raises(UpstreamTimeoutError) as info:
        retry(max_attempts=None, timeout=10, jitter=None, wrap=True, clock=clock)(flaky)()
    assert clock.sleeps == [1.0, 2.0, 4.0]  # the next wait (8 s) would end after 10 s
    assert info.value.context["reason"] == "timeout"
    plain = Flaky(*[OSError("last")] * 10)
    with pytest.raises(OSError, match="last"):
        retry(max_attempts=None, timeout=10, jitter=None, clock=clock)(plain)()


def test_time_budget_counts_the_attempts_themselves(clock: ManualClock) -> None:
    def slow() -> None:
        clock.advance(4.0)
        raise OSError("slow failure")

    with pytest.raises(OSError):
        retry(max_attempts=10, timeout=10, jitter=None, clock=clock)(slow)()
    assert clock.sleeps == [1.0]  # 4 + 1 + 4 = 9 s; a second wait of 2 s would pass 10 s


def test_retry_after_attribute_sets_the_next_delay_clamped(clock: ManualClock) -> None:
    class Throttled(Exception):
        def __init__(self, retry_after: object) -> None:
            self.retry_after = retry_after

    flaky = Flaky(Throttled(7), Throttled("120"), Throttled("nonsense"))
    assert retry(max_attempts=4, max_delay=30, jitter=None, clock=clock)(flaky)() == "ok"
    assert clock.sleeps == [7.0, 30.0, 4.0]  # hint, hint clamped to max_delay, schedule (3rd retry)


def test_retry_after_from_a_real_http_status_error(clock: ManualClock, upstream: Upstream) -> None:
    upstream.script = [(503, {"Retry-After": "3"}), (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})]

    @retry(max_attempts=3, retry_exceptions=httpx.HTTPStatusError, jitter=None, clock=clock)
    def fetch() -> object:
        response = httpx.get(upstream.url)
        response.raise_for_status()
        return response.json()

    assert fetch() == {"ok": True}
    assert clock.sleeps == [3.0]  # then a date in the past: retry at once (no sleep)
    assert upstream.hits == 3


def test_retry_on_result_with_a_real_503_response(clock: ManualClock, upstream: Upstream) -> None:
    upstream.script = [(503, {"Retry-After": "2"}), (503, {})]
    fetch = retry(retry_on_result=lambda r: r.status_code == 503, jitter=None, clock=clock)(httpx.get)
    response = fetch(upstream.url)
    assert response.status_code == 200
    assert clock.sleeps == [2.0, 2.0]  # Retry-After, then the schedule's second delay
    stats = get_statistics(fetch)
    assert stats.errors == {"result": 2}


def test_rejected_last_result_is_returned_or_wrapped(clock: ManualClock) -> None:
    always_busy = retry(max_attempts=2, retry_on_result=lambda r: r == "busy", clock=clock)(lambda: "busy")
    assert always_busy() == "busy"
    wrapped = retry(max_attempts=2, retry_on_result=lambda r: r == "busy", wrap=True, clock=clock)(
        lambda: "busy"
    )
    with pytest.raises(RetryError) as info:
        wrapped()
    assert info.value.context["result"] == "busy" and info.value.__cause__ is None


def test_budget_exhaustion_stops_a_retry_storm(clock: ManualClock) -> None:
    budget = RetryBudget(ratio=0.0, min_retries_per_second=0.0, capacity=2, clock=clock)
    calls: list[int] = []

    @retry(max_attempts=5, budget=budget, clock=clock, wrap=True)
    def down() -> None:
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(RetryBudgetExhaustedError) as info:
        down()
    assert len(calls) == 3 and isinstance(info.value.__cause__, ConnectionError)
    assert info.value.http_status == 503
    calls.clear()
    with pytest.raises(RetryBudgetExhaustedError):
        down()
    assert len(calls) == 1  # the shared budget is spent: no retry at all
    unwrapped = retry(max_attempts=5, budget=budget, clock=clock)(Flaky(ConnectionError("raw")))
    with pytest.raises(ConnectionError, match="raw"):
        unwrapped()
    assert budget.calls == 3 and budget.retries == 2


def test_circuit_open_gives_up_at_once_by_default(clock: ManualClock) -> None:
    refused = Flaky(CircuitBreakerError(name="users", retry_after=5.0))
    with pytest.raises(CircuitBreakerError):
        retry(max_attempts=5, wrap=True, clock=clock)(refused)()
    assert refused.calls == 1 and clock.sleeps == []


def test_circuit_open_wait_uses_retry_after_when_it_fits(clock: ManualClock) -> None:
    refused = Flaky(
        CircuitBreakerError(name="users", retry_after=5.0), CircuitBreakerError(state="HALF_OPEN")
    )
    wrapped = retry(max_attempts=3, on_circuit_open="wait", timeout=20, jitter=None, clock=clock)(refused)
    assert wrapped() == "ok"
    assert clock.sleeps == [5.0, 2.0]  # retry_after, then the schedule when a full half-open says 0
    too_long = Flaky(CircuitBreakerError(name="users", retry_after=50.0))
    with pytest.raises(CircuitBreakerError):
        retry(max_attempts=3, on_circuit_open="wait", timeout=20, clock=clock)(too_long)()
    assert too_long.calls == 1
    beyond_cap = Flaky(CircuitBreakerError(name="users", retry_after=61.0))
    with pytest.raises(CircuitBreakerError):
        retry(max_attempts=3, on_circuit_open="wait", clock=clock)(beyond_cap)()


def test_testing_mode_removes_waits_and_fixes_attempts(clock: ManualClock) -> None:
    flaky = Flaky(*[OSError()] * 10)
    with resilience.set_testing(True, attempts=2), pytest.raises(OSError):
        retry(max_attempts=5, clock=clock)(flaky)()
    assert flaky.calls == 2 and clock.sleeps == []
    assert not resilience.is_testing()
    with resilience.set_testing(True):
        assert retry(max_attempts=3, clock=clock)(Flaky(OSError(), OSError()))() == "ok"
    assert clock.sleeps == []


def test_kill_switch_makes_one_attempt(clock: ManualClock) -> None:
    flaky = Flaky(OSError("once"))
    resilience.set_active(False)
    try:
        with pytest.raises(OSError, match="once"):
            retry(max_attempts=5, wrap=True, clock=clock)(flaky)()
    finally:
        resilience.set_active(True)
    assert flaky.calls == 1


def test_every_attempt_is_logged_and_heard(clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    events: list[RetryEvent] = []
    flaky = Flaky(OSError("a"), OSError("b"), OSError("c"))
    wrapped = retry(max_attempts=3, jitter=None, clock=clock, name="svc", listeners=[events.append])(flaky)
    with caplog.at_level(logging.INFO, logger="resilience.retry"), pytest.raises(OSError):
        wrapped()
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "svc: attempt 1 failed (OSError('a')); retrying in 1.000s"
    assert messages[1] == "svc: attempt 2 failed (OSError('b')); retrying in 2.000s"
    assert messages[2] == "svc: giving up after 3 attempt(s) (attempts): OSError('c')"
    assert [(e.attempt, e.delay, e.gave_up) for e in events] == [
        (1, 1.0, None),
        (2, 2.0, None),
        (3, None, GiveUpReason.ATTEMPTS),
    ]
    assert caplog.records[0].attempt == 1  # type: ignore[attr-defined]


def test_a_failing_listener_does_not_break_the_retry(clock: ManualClock) -> None:
    def broken(event: RetryEvent) -> None:
        raise RuntimeError("listener bug")

    assert retry(clock=clock, listeners=[broken])(Flaky(OSError()))() == "ok"


def test_prometheus_counters(clock: ManualClock) -> None:
    registry = CollectorRegistry()
    register_prometheus(registry)
    register_prometheus(registry)  # idempotent
    wrapped = retry(max_attempts=2, clock=clock, name="prom-test")(Flaky(OSError(), OSError()))
    with pytest.raises(OSError):
        wrapped()
    assert wrapped() == "ok"
    sample = registry.get_sample_value
    assert sample("resilience_retry_calls_total", {"name": "prom-test"}) == 2
    assert sample("resilience_retry_attempts_total", {"name": "prom-test"}) == 3
    assert sample("resilience_retry_retries_total", {"name": "prom-test", "error_type": "OSError"}) == 1
    assert sample("resilience_retry_give_ups_total", {"name": "prom-test", "reason": "attempts"}) == 1


def test_block_form_retries_until_success(clock: ManualClock) -> None:
    flaky = Flaky(OSError(), OSError())
    numbers = []
    for attempt in retrying(max_attempts=3, jitter=None, clock=clock):
        with attempt:
            numbers.append(attempt.number)
            flaky()
    assert numbers == [1, 2, 3] and clock.sleeps == [1.0, 2.0]


def test_block_form_gives_up_like_the_decorator(clock: ManualClock) -> None:
    with pytest.raises(OSError, match="3"):
        for attempt in retrying(max_attempts=3, clock=clock):
            with attempt:
                raise OSError(attempt.number)
    with pytest.raises(RetryError) as info:
        for attempt in retrying(max_attempts=2, wrap=True, clock=clock):
            with attempt:
                raise OSError(attempt.number)
    assert str(info.value.__cause__) == "2"
    runs = 0
    with pytest.raises(KeyError):
        for attempt in retrying(retry_exceptions=OSError, clock=clock):
            with attempt:
                runs += 1
                raise KeyError("not retried")
    assert runs == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_attempts": 0}, ValueError, "max_attempts"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"on_circuit_open": "ignore"}, ValueError, "on_circuit_open"),
        ({"retry_exceptions": "ValueError"}, TypeError, "retry_exceptions"),
        ({"retry_exceptions": [ValueError, 3]}, TypeError, "retry_exceptions"),
        ({"retry_on_result": 503}, TypeError, "retry_on_result"),
        ({"budget": 0.2}, TypeError, "budget"),
        ({"jitter": "sometimes"}, ValueError, "jitter"),
    ],
)
def test_invalid_arguments_are_named(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        retry(**kwargs)  # type: ignore[arg-type]


def test_methods_can_be_decorated(clock: ManualClock) -> None:
    class Client:
        def __init__(self) -> None:
            self.flaky = Flaky(OSError())

        @retry(clock=clock)
        def get(self, path: str) -> str:
            return self.flaky(path)

    assert Client().get("/x") == "ok"


def test_bare_decorator_uses_the_defaults() -> None:
    @retry
    def ok(x: int) -> int:
        return x + 1

    assert ok(1) == 2 and get_statistics(ok).calls == 1


def test_generator_functions_are_refused() -> None:
    def numbers() -> Any:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        retry()(numbers)
    with pytest.raises(TypeError, match="decorates functions"):
        retry()(42)  # type: ignore[arg-type]


def test_retry_exceptions_may_be_a_predicate(clock: ManualClock) -> None:
    def transient(error: BaseException) -> bool:
        return isinstance(error, OSError) and error.errno == 11

    again = OSError(11, "try again")
    flaky = Flaky(again)
    assert retry(retry_exceptions=transient, clock=clock)(flaky)() == "ok"
    fatal = Flaky(OSError(2, "missing"))
    with pytest.raises(OSError, match="missing"):
        retry(retry_exceptions=transient, clock=clock)(fatal)()
    assert fatal.calls == 1


def test_budget_is_thread_safe() -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0.1, min_retries_per_second=0.0, capacity=5, clock=clock)
    granted: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(500):
            budget.deposit()
            ok = budget.try_withdraw()
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert budget.calls == 4000
    assert sum(granted) == budget.retries <= 5 + 0.1 * 4000 + 1e-6
