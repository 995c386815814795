"""The breaker against a small reference model, one Hypothesis state machine per failure model.

Calls are driven by hand: ``acall`` (or the decorator's async wrapper) returns a coroutine that
suspends on a :class:`Gate` once admitted, so several calls can be in flight at once, the clock can
move while they run (slow calls), and each is finished later with a chosen outcome. No event loop is
needed. After every step the breaker's state, window totals and announced transitions must equal
the model's, and every transition must be in the allowed table.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from resilience._clock import ManualClock
from resilience.breaker import (
    AUTOMATIC_TRANSITIONS,
    MANUAL_TARGETS,
    BreakerConfig,
    CircuitBreaker,
    CircuitBreakerError,
    CircuitState,
    SlidingWindowType,
    StateTransition,
)

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
FORCED_OPEN, DISABLED, METRICS_ONLY = (
    CircuitState.FORCED_OPEN,
    CircuitState.DISABLED,
    CircuitState.METRICS_ONLY,
)


class RecordedError(Exception):
    pass


class IgnoredError(Exception):
    pass


class UnlistedError(Exception):
    """Neither recorded nor ignored: counts as a success (resilience4j semantics)."""


class Gate:
    """What the protected coroutine awaits; the driver resumes it with a value or an exception."""

    def __await__(self) -> Any:
        return (yield self)


async def upstream(gate: Gate) -> Any:
    return await gate


@dataclass
class Model:
    """The specification, written the obvious way: full outcome lists, rates recomputed each time."""

    config: BreakerConfig
    state: CircuitState = CLOSED
    epoch: int = 0
    outcomes: list[tuple[float, bool, bool]] = field(default_factory=list)
    probes: list[tuple[bool, bool]] = field(default_factory=list)
    probes_issued: int = 0
    trips: int = 0
    open_until: float = 0.0
    half_open_since: float = 0.0
    events: list[tuple[CircuitState, CircuitState, bool]] = field(default_factory=list)

    def move(self, target: CircuitState, now: float, manual: bool = False) -> None:
        cfg = self.config
        self.events.append((self.state, target, manual))
        if target is OPEN:
            self.trips += 1
            duration = cfg.wait_duration_in_open_state * cfg.wait_duration_multiplier ** (self.trips - 1)
            cap = cfg.max_wait_duration_in_open_state
            self.open_until = now + (duration if cap is None else min(duration, cap))
        elif target is HALF_OPEN:
            self.half_open_since = now
            self.probes_issued = 0
            self.probes = []
        elif target in (CLOSED, METRICS_ONLY):
            if self.state is HALF_OPEN:
                self.trips = 0
            self.outcomes = []
        self.state = target
        self.epoch += 1

    def tick(self, now: float) -> None:
        limit = self.config.max_wait_duration_in_half_open_state
        if self.state is OPEN and now >= self.open_until:
            self.move(HALF_OPEN, now)
        elif self.state is HALF_OPEN and limit is not None and now - self.half_open_since >= limit:
            self.move(OPEN, now)

    def acquire(self, now: float) -> int | tuple[CircuitState, float] | None:
        """A permit (epoch), None (admitted, not recorded), or (state, retry_after) for a rejection."""
        if self.state in (CLOSED, METRICS_ONLY):
            return self.epoch
        if self.state is DISABLED:
            return None
        if self.state is FORCED_OPEN:
            return (FORCED_OPEN, self.config.wait_duration_in_open_state)
        self.tick(now)
        if self.state in (CLOSED, METRICS_ONLY):
            return self.epoch
        if (
            self.state is HALF_OPEN
            and self.probes_issued < self.config.permitted_number_of_calls_in_half_open_state
        ):
            self.probes_issued += 1
            return self.epoch
        return (self.state, max(self.open_until - now, 0.0) if self.state is OPEN else 0.0)

    def window(self, now: float) -> tuple[int, int, int]:
        cfg = self.config
        kind = cfg.sliding_window_type
        if kind is SlidingWindowType.CONSECUTIVE:
            run: list[bool] = []
            for _, failed, slow in reversed(self.outcomes):
                if not (failed or slow):
                    break
                run.append(slow)
            return len(run), len(run), sum(run)
        if kind is SlidingWindowType.COUNT_BASED:
            recent = self.outcomes[-cfg.sliding_window_size :]
        else:
            oldest = math.floor(now) - cfg.sliding_window_size + 1
            recent = [o for o in self.outcomes if math.floor(o[0]) >= oldest]
        return len(recent), sum(o[1] for o in recent), sum(o[2] for o in recent)

    def rates_trip(self, calls: int, failures: int, slow: int, minimum: int) -> bool:
        cfg = self.config
        if calls < minimum:
            return False
        slow_on = cfg.slow_call_duration_threshold is not None
        return failures / calls * 100 >= cfg.failure_rate_threshold or (
            slow_on and slow / calls * 100 >= cfg.slow_call_rate_threshold
        )

    def finish(self, permit: int | None, failed: bool | None, start: float, now: float) -> None:
        """Apply a finished call; ``failed is None`` means ignored."""
        cfg = self.config
        if permit is None:
            return
        self.tick(now)
        if permit != self.epoch:
            return
        if failed is None:
            if self.state is HALF_OPEN:
                self.probes_issued -= 1
            return
        threshold = cfg.slow_call_duration_threshold
        slow = threshold is not None and now - start >= threshold
        consecutive = cfg.sliding_window_type is SlidingWindowType.CONSECUTIVE
        permitted = cfg.permitted_number_of_calls_in_half_open_state
        if self.state is HALF_OPEN:
            self.probes.append((failed, slow))
            if consecutive:
                trip = any(f or s for f, s in self.probes)
            else:
                calls = len(self.probes)
                trip = self.rates_trip(
                    calls, sum(f for f, _ in self.probes), sum(s for _, s in self.probes), permitted
                )
            if trip:
                self.move(OPEN, now)
            elif len(self.probes) >= permitted:
                self.move(CLOSED, now)
        elif self.state in (CLOSED, METRICS_ONLY):
            self.outcomes.append((now, failed, slow))
            if self.state is CLOSED:
                calls, failures, slow_calls = self.window(now)
                if consecutive:
                    trip = failures >= cfg.failure_threshold
                else:
                    trip = self.rates_trip(calls, failures, slow_calls, cfg.minimum_calls)
                if trip:
                    self.move(OPEN, now)

    def reset(self, now: float) -> None:
        self.trips = 0
        if self.state is CLOSED:
            self.epoch += 1
            self.outcomes = []
        else:
            self.move(CLOSED, now, manual=True)

    def manual(self, target: CircuitState, now: float) -> None:
        if self.state is not target:
            self.move(target, now, manual=True)


@dataclass
class InFlight:
    coro: Coroutine[Any, Any, Any]
    permit: int | None
    start: float


FINISH_KINDS = ["success", "bad_result", "recorded", "unlisted", "ignored", "cancelled"]


@pytest.fixture(autouse=True)
def quiet_breaker_log():
    """Thousands of transitions per run: keep them out of pytest's log capture."""
    log = logging.getLogger("resilience.breaker")
    previous = log.level
    log.setLevel(logging.ERROR)
    yield
    log.setLevel(previous)


class BreakerMachine(RuleBasedStateMachine):
    window_type: SlidingWindowType = SlidingWindowType.CONSECUTIVE

    calls = Bundle("calls")

    @initialize(
        threshold=st.integers(1, 4),
        size=st.integers(1, 6),
        minimum=st.integers(1, 6),
        failure_rate=st.sampled_from([25.0, 50.0, 100.0]),
        slow=st.sampled_from([None, 1.0]),
        slow_rate=st.sampled_from([50.0, 100.0]),
        wait=st.sampled_from([0.0, 2.0, 5.0]),
        backoff=st.booleans(),
        permitted=st.integers(1, 3),
        max_half_open=st.sampled_from([None, 3.0]),
        result_predicate=st.booleans(),
    )
    def setup(
        self,
        threshold: int,
        size: int,
        minimum: int,
        failure_rate: float,
        slow: float | None,
        slow_rate: float,
        wait: float,
        backoff: bool,
        permitted: int,
        max_half_open: float | None,
        result_predicate: bool,
    ) -> None:
        self.config = BreakerConfig(
            failure_threshold=threshold,
            sliding_window_type=self.window_type,
            sliding_window_size=size,
            minimum_number_of_calls=minimum,
            failure_rate_threshold=failure_rate,
            slow_call_duration_threshold=slow,
            slow_call_rate_threshold=slow_rate if slow is not None else 100.0,
            wait_duration_in_open_state=wait,
            wait_duration_multiplier=2.0 if backoff else 1.0,
            max_wait_duration_in_open_state=max(wait, 1.0) * 3 if backoff else None,
            permitted_number_of_calls_in_half_open_state=permitted,
            max_wait_duration_in_half_open_state=max_half_open,
            record_exceptions=(RecordedError,),
            ignore_exceptions=(IgnoredError,),
            record_result=(lambda value: value == "bad") if result_predicate else None,
        )
        self.clock = ManualClock(100.0)
        self.events: list[StateTransition] = []
        self.breaker = CircuitBreaker(
            name="machine", config=self.config, clock=self.clock, listeners=[self.events.append]
        )
        self.decorated = self.breaker(upstream)
        self.model = Model(self.config)
        self.in_flight = 0

    @precondition(lambda self: self.in_flight < 5)
    @rule(target=calls, via_decorator=st.booleans())
    def start_call(self, via_decorator: bool) -> Any:
        now = self.clock.monotonic()
        expected = self.model.acquire(now)
        coro = self.decorated(Gate()) if via_decorator else self.breaker.acall(upstream, Gate())
        if isinstance(expected, tuple):
            with pytest.raises(CircuitBreakerError) as info:
                coro.send(None)
            assert info.value.name == "machine"
            assert info.value.state == expected[0].value
            assert info.value.retry_after == pytest.approx(expected[1])
            return None
        assert isinstance(coro.send(None), Gate)
        self.in_flight += 1
        return InFlight(coro, expected, now)

    @rule(call=consumes(calls), kind=st.sampled_from(FINISH_KINDS))
    def finish_call(self, call: InFlight | None, kind: str) -> None:
        if call is None:
            return
        self.in_flight -= 1
        now = self.clock.monotonic()
        if kind in ("success", "bad_result"):
            value = "bad" if kind == "bad_result" else "good"
            with pytest.raises(StopIteration) as done:
                call.coro.send(value)
            assert done.value.value == value
            failed: bool | None = kind == "bad_result" and self.config.record_result is not None
        else:
            error: BaseException = {
                "recorded": RecordedError(),
                "unlisted": UnlistedError(),
                "ignored": IgnoredError(),
                "cancelled": asyncio.CancelledError(),
            }[kind]
            with pytest.raises(type(error)):
                call.coro.throw(error)
            failed = {"recorded": True, "unlisted": False}.get(kind)
        self.model.finish(call.permit, failed, call.start, now)

    @rule(seconds=st.sampled_from([0.25, 0.5, 1.0, 2.0, 5.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(action=st.sampled_from(["reset", "force_open", "disable", "force_closed", "metrics_only"]))
    def manual(self, action: str) -> None:
        now = self.clock.monotonic()
        getattr(self.breaker, action)()
        if action == "reset":
            self.model.reset(now)
        else:
            target = {"force_open": FORCED_OPEN, "metrics_only": METRICS_ONLY}.get(action, DISABLED)
            self.model.manual(target, now)

    @invariant()
    def agrees_with_model(self) -> None:
        if not hasattr(self, "model"):
            return
        now = self.clock.monotonic()
        self.model.tick(now)
        assert self.breaker.state is self.model.state
        snap = self.breaker.snapshot()
        assert (snap.calls, snap.failures, snap.slow_calls) == self.model.window(now)
        seen = [(e.from_state, e.to_state, e.manual) for e in self.events]
        assert seen == self.model.events
        for event in self.events:
            allowed = MANUAL_TARGETS if event.manual else AUTOMATIC_TRANSITIONS[event.from_state]
            assert event.to_state in allowed and event.from_state is not event.to_state
        if self.model.state is OPEN and self.model.open_until > now:  # (else reading it would tick)
            assert self.breaker.retry_after == pytest.approx(self.model.open_until - now)


class ConsecutiveMachine(BreakerMachine):
    window_type = SlidingWindowType.CONSECUTIVE


class CountWindowMachine(BreakerMachine):
    window_type = SlidingWindowType.COUNT_BASED


class TimeWindowMachine(BreakerMachine):
    window_type = SlidingWindowType.TIME_BASED


TestConsecutive = ConsecutiveMachine.TestCase
TestCountWindow = CountWindowMachine.TestCase
TestTimeWindow = TimeWindowMachine.TestCase
