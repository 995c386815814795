"""A retry budget shared across calls, to stop retry storms when an upstream is down.

Without one, every caller of a dead upstream multiplies its load by the attempt count exactly when it
can least take it. The budget caps retries at a fraction of recent calls, plus a small floor so a
quiet service can still retry now and then.
"""

from __future__ import annotations

import math
import threading

from resilience._clock import MONOTONIC, Clock

__all__ = ["RetryBudget"]


class RetryBudget:
    """A thread-safe token bucket: each call deposits ``ratio`` tokens, each retry withdraws one.

    The bucket also refills at ``min_retries_per_second`` and never holds more than ``capacity``
    tokens (it starts full), so over any period the retries allowed are at most
    ``capacity + ratio * calls + min_retries_per_second * seconds``. Stale credit cannot pile up:
    the cap makes the budget reflect *recent* calls. With the defaults (ratio 0.2, 1 retry/s floor,
    capacity 10) a fleet sharing one budget adds at most about 20 % extra load once the initial
    burst of 10 is spent.

    Share one instance between every call to the same upstream (for example through a policy); a
    retry that finds the bucket empty is refused: the retry gives up with
    :class:`~resilience.errors.RetryBudgetExhaustedError` (``wrap=True``) or re-raises the last error.

    Args:
        ratio: tokens deposited per call, i.e. the fraction of calls that may be retried (0..1000).
        min_retries_per_second: refill rate in tokens per second, the floor for quiet services.
        capacity: most tokens held at once; also the initial balance (>= 1).
        clock: monotonic time source (inject a ``ManualClock`` in tests).
    """

    __slots__ = (
        "_balance",
        "_clock",
        "_last",
        "_lock",
        "calls",
        "capacity",
        "min_retries_per_second",
        "ratio",
        "refused",
        "retries",
    )

    def __init__(
        self,
        ratio: float = 0.2,
        min_retries_per_second: float = 1.0,
        capacity: float = 10.0,
        *,
        clock: Clock = MONOTONIC,
    ) -> None:
        checks = (
            ("ratio", ratio, 0.0),
            ("min_retries_per_second", min_retries_per_second, 0.0),
            ("capacity", capacity, 1.0),
        )
        for label, value, low in checks:
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= low):
                raise ValueError(f"RetryBudget {label} must be a finite number >= {low:g}, got {value!r}")
        self.ratio = float(ratio)
        self.min_retries_per_second = float(min_retries_per_second)
        self.capacity = float(capacity)
        self._clock = clock
        self._lock = threading.Lock()
        self._balance = self.capacity
        self._last = clock.monotonic()
        self.calls = 0
        """Calls deposited so far."""
        self.retries = 0
        """Retries granted so far."""
        self.refused = 0
        """Retries refused so far."""

    def __repr__(self) -> str:
        return (
            f"RetryBudget(ratio={self.ratio}, min_retries_per_second={self.min_retries_per_second}, "
            f"capacity={self.capacity}, balance={self.balance:.2f})"
        )

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = now - self._last
        self._last = now
        if elapsed > 0:
            self._balance = min(self.capacity, self._balance + elapsed * self.min_retries_per_second)

    def deposit(self) -> None:
        """Record one call (its first attempt)."""
        with self._lock:
            self._refill()
            self.calls += 1
            self._balance = min(self.capacity, self._balance + self.ratio)

    def try_withdraw(self) -> bool:
        """Take one token for a retry; ``False`` (and nothing taken) when the budget is spent."""
        with self._lock:
            self._refill()
            if self._balance >= 1.0:
                self._balance -= 1.0
                self.retries += 1
                return True
            self.refused += 1
            return False

    @property
    def balance(self) -> float:
        """Tokens available now (retries that would be granted)."""
        with self._lock:
            self._refill()
            return self._balance
