"""Property tests for backoff schedules, Retry-After parsing and the retry budget."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience._clock import ManualClock
from resilience.retry import Backoff, Jitter, RetryBudget, parse_retry_after, retry

delays = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)
factors = st.floats(min_value=1.0, max_value=20.0, allow_nan=False)
retry_numbers = st.integers(min_value=1, max_value=5000)
jitters = st.sampled_from([None, "full", "equal", "decorrelated", True, False, Jitter.FULL])


@given(delays, delays, factors, jitters, retry_numbers, st.integers(0, 2**32 - 1))
def test_never_above_the_cap(base: float, cap: float, factor: float, jitter, n: int, seed: int) -> None:
    backoff = Backoff(base, cap, factor, jitter, random.Random(seed))
    previous = None
    for number in range(n, n + 5):
        delay = backoff.delay(number, previous)
        assert 0.0 <= delay <= cap
        previous = delay


@given(delays, delays, factors, st.lists(retry_numbers, min_size=2, max_size=20))
def test_monotone_before_jitter(base: float, cap: float, factor: float, numbers: list[int]) -> None:
    backoff = Backoff(base, cap, factor, jitter=None)
    ordered = sorted(numbers)
    schedule = [backoff.delay(n) for n in ordered]
    assert schedule == sorted(schedule)
    assert schedule == [backoff.ceiling(n) for n in ordered]


@given(delays, delays, factors, retry_numbers, st.integers(0, 2**32 - 1))
def test_full_and_equal_jitter_within_bounds(
    base: float, cap: float, factor: float, n: int, seed: int
) -> None:
    ceiling = Backoff(base, cap, factor, jitter=None).delay(n)
    full = Backoff(base, cap, factor, "full", random.Random(seed)).delay(n)
    equal = Backoff(base, cap, factor, "equal", random.Random(seed)).delay(n)
    assert 0.0 <= full <= ceiling
    assert ceiling / 2 <= equal <= ceiling


@given(delays, delays, st.floats(0.0, 1e5, allow_nan=False), st.integers(0, 2**32 - 1))
def test_decorrelated_jitter_within_bounds(base: float, cap: float, previous: float, seed: int) -> None:
    delay = Backoff(base, cap, jitter="decorrelated", rng=random.Random(seed)).delay(3, previous)
    upper = max(base, max(previous, base) * 3)
    assert min(base, cap) <= delay <= min(cap, upper)


def test_seed_schedule_and_true_means_equal_jitter() -> None:
    assert [Backoff(jitter=None).delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert Backoff(jitter=True).jitter is Jitter.EQUAL
    assert Backoff().jitter is Jitter.FULL
    assert Backoff(jitter="none").jitter is None and Backoff(jitter=" Equal ").jitter is Jitter.EQUAL


def test_seeded_rng_makes_schedules_reproducible() -> None:
    first = [Backoff(rng=random.Random(7)).delay(n) for n in range(1, 6)]
    assert first == [Backoff(rng=random.Random(7)).delay(n) for n in range(1, 6)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_delay": -1}, "base_delay"),
        ({"max_delay": float("inf")}, "max_delay"),
        ({"backoff_factor": 0.5}, "backoff_factor"),
        ({"jitter": "gaussian"}, "jitter must be one of"),
    ],
)
def test_invalid_backoff_is_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_retry_number_starts_at_one() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        Backoff().delay(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), (" 3 ", 3.0), ("1.5", 1.5), (b"7", 7.0), (4, 4.0), (0, 0.0), ("-1", None),
     ("soon", None), ("", None), (None, None), (float("nan"), None), (True, None)],
)  # fmt: skip
def test_parse_retry_after_delta_seconds(value: object, expected: float | None) -> None:
    assert parse_retry_after(value) == expected  # type: ignore[arg-type]


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30.0)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 10) == pytest.approx(10.0)


@given(
    st.floats(0.0, 2.0),
    st.floats(0.0, 5.0),
    st.floats(1.0, 20.0),
    st.lists(st.tuples(st.sampled_from(["call", "retry", "wait"]), st.floats(0.0, 3.0)), max_size=200),
)
def test_budget_never_exceeded(ratio: float, per_second: float, capacity: float, ops) -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio, per_second, capacity, clock=clock)
    calls = granted = 0
    for op, amount in ops:
        if op == "call":
            budget.deposit()
            calls += 1
        elif op == "retry":
            granted += budget.try_withdraw()
        else:
            clock.advance(amount)
        allowance = capacity + ratio * calls + per_second * clock.monotonic()
        assert granted <= allowance + 1e-9
        assert 0.0 <= budget.balance <= capacity
    assert (budget.calls, budget.retries) == (calls, granted)


def test_budget_refuses_when_empty_and_refills() -> None:
    clock = ManualClock()
    budget = RetryBudget(ratio=0.5, min_retries_per_second=1.0, capacity=2, clock=clock)
    assert [budget.try_withdraw() for _ in range(3)] == [True, True, False]
    budget.deposit()
    budget.deposit()
    assert budget.try_withdraw() is True
    clock.advance(1.0)
    assert budget.try_withdraw() is True
    assert budget.try_withdraw() is False
    assert budget.refused == 2


@pytest.mark.parametrize(
    "kwargs", [{"ratio": -0.1}, {"capacity": 0.5}, {"min_retries_per_second": float("nan")}]
)
def test_invalid_budget_is_named(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetryBudget(**kwargs)


@given(
    max_attempts=st.one_of(st.none(), st.integers(1, 8)),
    timeout=st.one_of(st.none(), st.floats(0.1, 100.0)),
    base=st.floats(0.0, 10.0),
    cap=st.floats(0.0, 30.0),
    jitter=jitters,
    failures=st.integers(0, 12),
    seed=st.integers(0, 2**16),
)
def test_decorator_respects_every_limit(
    max_attempts: int | None,
    timeout: float | None,
    base: float,
    cap: float,
    jitter: object,
    failures: int,
    seed: int,
) -> None:
    if max_attempts is None and timeout is None:
        max_attempts = 20  # the documented footgun (retry forever) is not a property to test
    clock = ManualClock()
    calls: list[float] = []

    def flaky() -> str:
        calls.append(clock.monotonic())
        if len(calls) <= failures:
            raise ConnectionError(len(calls))
        return "ok"

    wrapped = retry(max_attempts, ConnectionError, base, cap, 2.0, jitter, timeout=timeout, clock=clock,
                    rng=random.Random(seed))(flaky)  # type: ignore[arg-type]  # fmt: skip
    try:
        outcome = wrapped()
    except ConnectionError as error:
        assert error.args == (len(calls),)  # the last error, unchanged
    else:
        assert outcome == "ok" and len(calls) == failures + 1
    if max_attempts is not None:
        assert len(calls) <= max_attempts
    assert len(clock.sleeps) <= len(calls) - 1
    assert all(0.0 <= wait <= cap for wait in clock.sleeps)
    if timeout is not None:
        assert sum(clock.sleeps) <= timeout + 1e-9
