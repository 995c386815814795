"""Decide, per request, what the current :class:`~stubs.behaviour.Behaviour` does to it.

Deciding is separate from acting (the ASGI middleware acts), so the decision rules are testable
with an injected clock and no sockets. All random draws come from one ``random.Random(seed)`` made
when the behaviour is set, so the same seed and the same request sequence give the same faults.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from stubs.behaviour import (
    MAX_DELAY_MS,
    Behaviour,
    ExponentialLatency,
    Fault,
    FixedLatency,
    NormalLatency,
    UniformLatency,
)

__all__ = ["Action", "Decision", "FaultEngine"]


class Action(enum.Enum):
    PASS = "pass"
    ERROR = "error"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one request: wait ``delay_s``, then ``action`` under ``fault``'s settings."""

    fault: Fault
    delay_s: float
    action: Action
    status: int | None = None


def _sample_ms(fault: Fault, rng: random.Random) -> float:
    latency = fault.latency
    if latency is None:
        return 0.0
    if isinstance(latency, FixedLatency):
        value = latency.ms
    elif isinstance(latency, UniformLatency):
        value = rng.uniform(latency.low_ms, latency.high_ms)
    elif isinstance(latency, NormalLatency):
        value = rng.gauss(latency.mean_ms, latency.stddev_ms)
    else:
        assert isinstance(latency, ExponentialLatency)
        value = rng.expovariate(1.0 / latency.mean_ms)
    return min(max(value, 0.0), MAX_DELAY_MS)


class FaultEngine:
    """Holds the current behaviour, its clock origin, its random source and its counters.

    Used from one event loop only (the stub's), so it needs no lock.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.set(Behaviour())

    def set(self, behaviour: Behaviour) -> None:
        """Replace the behaviour; its schedule, fail-first counters and random source start afresh."""
        self.behaviour = behaviour
        self._started = self._clock()
        self._rng = random.Random(behaviour.seed)
        # In-scope requests seen by the active step, for fail_first; only the current step is kept,
        # so a looping schedule running for hours holds two values, not one per cycle.
        self._step: tuple[int, int] = (0, -1)
        self._seen = 0

    def in_scope(self, path: str) -> bool:
        routes = self.behaviour.routes
        return routes is None or any(fnmatchcase(path, pattern) for pattern in routes)

    def active(self) -> tuple[Fault, int, int]:
        """The fault in force now, with its (cycle, step) key; step -1 means the top-level fields."""
        schedule = self.behaviour.schedule
        elapsed = self._clock() - self._started
        total = sum(step.duration_s for step in schedule)
        if not schedule or (elapsed >= total and not self.behaviour.loop):
            return self.behaviour, 0, -1
        cycle, offset = divmod(elapsed, total)
        for index, step in enumerate(schedule):
            if offset < step.duration_s:
                return step.fault, int(cycle), index
            offset -= step.duration_s
        return schedule[-1].fault, int(cycle), len(schedule) - 1  # float rounding at the very end

    def decide(self, path: str) -> Decision | None:
        """The decision for one request to ``path``, or ``None`` when the path is out of scope."""
        if not self.in_scope(path):
            return None
        fault, cycle, step = self.active()
        rng = self._rng
        delay_s = _sample_ms(fault, rng) / 1000.0
        if (cycle, step) != self._step:
            self._step, self._seen = (cycle, step), 0
        seen = self._seen
        self._seen += 1
        if fault.drop_rate and rng.random() < fault.drop_rate:
            return Decision(fault, delay_s, Action.DROP)
        if seen < fault.fail_first:
            return Decision(fault, delay_s, Action.ERROR, fault.error_status[0])
        if fault.error_rate and rng.random() < fault.error_rate:
            return Decision(fault, delay_s, Action.ERROR, rng.choice(fault.error_status))
        return Decision(fault, delay_s, Action.PASS)

    def describe(self) -> dict[str, Any]:
        """The behaviour as set, plus where its schedule stands (for ``GET /_admin/behaviour``)."""
        _, cycle, step = self.active()
        return {
            "behaviour": self.behaviour.model_dump(mode="json"),
            "elapsed_s": round(self._clock() - self._started, 3),
            "active_step": None if step < 0 else step,
            "cycle": cycle,
        }
