"""Injectable time: every component that waits or measures takes a :class:`Clock`.

Real runs use :data:`MONOTONIC`; tests use :class:`ManualClock`, which advances only when told to, so
breaker timeouts, retry backoff and DLQ schedules are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Protocol

__all__ = ["MONOTONIC", "Clock", "ManualClock", "MonotonicClock"]


class Clock(Protocol):
    """What a component needs of time: a monotonic reading and a way to wait."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def async_sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` without blocking the loop."""
        ...


class MonotonicClock:
    """The real clock: :func:`time.monotonic`, :func:`time.sleep`, :func:`asyncio.sleep`."""

    __slots__ = ()

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    async def async_sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


MONOTONIC = MonotonicClock()


class ManualClock:
    """A clock that moves only when :meth:`advance` or a sleep is called.

    Sleeping advances the clock by the requested amount at once, so code under test sees time pass
    exactly as it asked, in no real time. Thread-safe.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []
        """Every sleep requested, in order: tests assert backoff schedules on it."""

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)
