"""Call-outcome windows the breaker evaluates: consecutive run, last N calls, last N seconds.

All three share one small interface (:class:`Window`): ``record(failed, slow, now)`` adds one call,
``advance(now)`` lets time pass, and the running totals ``calls``, ``failures`` and ``slow_calls`` are
plain attributes, so evaluating a window reads three integers and allocates nothing. None of them
locks: the breaker guards every window with its own lock. ``now`` is a monotonic reading in seconds
from the breaker's injected clock; only :class:`TimeWindow` looks at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["ConsecutiveWindow", "CountWindow", "Snapshot", "TimeWindow", "Totals", "Window", "snapshot"]

_FAILED = 1
_SLOW = 2


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A frozen copy of a window's totals, for reporting (``get_state``) and tests."""

    calls: int
    failures: int
    slow_calls: int


class Totals(Protocol):
    """Read-only totals: what :func:`resilience.breaker.evaluate` needs (a window or a snapshot)."""

    @property
    def calls(self) -> int: ...

    @property
    def failures(self) -> int: ...

    @property
    def slow_calls(self) -> int: ...


class Window(Protocol):
    """What the breaker needs of a window: record a call, let time pass, read three totals."""

    calls: int
    failures: int
    slow_calls: int

    def record(self, failed: bool, slow: bool, now: float) -> None:
        """Add one finished call: ``failed`` by classification, ``slow`` by duration."""
        ...

    def advance(self, now: float) -> None:
        """Drop what has aged out by ``now`` (a no-op for windows that do not age)."""
        ...


class ConsecutiveWindow:
    """The seed's model: the current run of bad calls, reset by the first good one.

    A call is bad when it failed or was slow. The window *is* the current run: ``calls`` and
    ``failures`` are its length, ``slow_calls`` the slow calls in it. (So a success need not be
    recorded when the run is empty, which is what lets the breaker skip its lock.) O(1) time and
    space per call.
    """

    __slots__ = ("calls", "failures", "slow_calls")

    def __init__(self) -> None:
        self.calls = 0
        self.failures = 0
        self.slow_calls = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        if failed or slow:
            self.failures += 1
            self.slow_calls += slow
        else:
            self.failures = 0
            self.slow_calls = 0
        self.calls = self.failures

    def advance(self, now: float) -> None:
        return None


class CountWindow:
    """The last ``size`` calls: a ring buffer of outcomes plus running totals.

    Recording overwrites the oldest slot once the ring is full, subtracting the evicted outcome
    from the totals before adding the new one, so ``record`` is O(1) and the totals are always
    exact. Space is O(size): one small int per slot (bit 0 failed, bit 1 slow).
    """

    __slots__ = ("_next", "_ring", "calls", "failures", "size", "slow_calls")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a count window needs at least one slot, got size={size}")
        self.size = size
        self._ring = [0] * size
        self._next = 0
        self.calls = 0
        self.failures = 0
        self.slow_calls = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        index = self._next
        if self.calls == self.size:
            evicted = self._ring[index]
            self.failures -= evicted & _FAILED
            self.slow_calls -= evicted >> 1
        else:
            self.calls += 1
        self._ring[index] = (_FAILED if failed else 0) | (_SLOW if slow else 0)
        self.failures += failed
        self.slow_calls += slow
        self._next = index + 1 if index + 1 < self.size else 0

    def advance(self, now: float) -> None:
        return None


class TimeWindow:
    """The calls of the last ``size`` seconds: a ring of per-second buckets plus running totals.

    Bucket ``i`` holds the totals of whole second ``s`` where ``s % size == i``. Time moves lazily:
    ``record`` and ``advance`` floor ``now`` to a second and clear every bucket that second has
    overtaken (subtracting it from the totals), so nothing runs between calls. The window therefore
    covers between ``size - 1`` and ``size`` seconds. ``record`` is O(1) amortised and O(size) at
    worst (after an idle gap, every bucket is cleared at most once); space is O(size).
    """

    __slots__ = ("_calls", "_failures", "_head", "_slow", "calls", "failures", "size", "slow_calls")

    def __init__(self, size: int, now: float = 0.0) -> None:
        if size < 1:
            raise ValueError(f"a time window needs at least one second, got size={size}")
        self.size = size
        self._calls = [0] * size
        self._failures = [0] * size
        self._slow = [0] * size
        self._head = int(now // 1)
        self.calls = 0
        self.failures = 0
        self.slow_calls = 0

    def advance(self, now: float) -> None:
        second = int(now // 1)
        head = self._head
        if second <= head:
            return
        for stale in range(head + 1, min(second, head + self.size) + 1):
            index = stale % self.size
            self.calls -= self._calls[index]
            self.failures -= self._failures[index]
            self.slow_calls -= self._slow[index]
            self._calls[index] = self._failures[index] = self._slow[index] = 0
        self._head = second

    def record(self, failed: bool, slow: bool, now: float) -> None:
        self.advance(now)
        index = self._head % self.size
        self._calls[index] += 1
        self._failures[index] += failed
        self._slow[index] += slow
        self.calls += 1
        self.failures += failed
        self.slow_calls += slow


def snapshot(window: Window) -> Snapshot:
    """Freeze a window's totals (the caller has advanced it and holds the breaker's lock)."""
    return Snapshot(window.calls, window.failures, window.slow_calls)
