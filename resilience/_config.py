"""Process-wide switches: test mode and the kill switch.

Writes take a lock; reads are plain attribute reads, so the per-call path stays lock-free. The
components consult these flags only where backoff, waits and attempt limits are computed.
"""

from __future__ import annotations

import threading
from types import TracebackType

__all__ = ["CONFIG", "is_active", "is_testing", "set_active", "set_testing"]


class _Config:
    __slots__ = ("active", "lock", "testing", "testing_attempts")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = True
        self.testing = False
        self.testing_attempts: int | None = None


CONFIG = _Config()


class _RestoreTesting:
    """Returned by :func:`set_testing`; as a context manager it restores the previous setting."""

    def __init__(self, previous: tuple[bool, int | None]) -> None:
        self._previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        set_testing(self._previous[0], attempts=self._previous[1])


def set_testing(testing: bool, *, attempts: int | None = None) -> _RestoreTesting:
    """Turn test mode on or off for the whole process.

    In test mode retries do not wait (every delay is 0) and, when ``attempts`` is given, every retry
    policy makes exactly that many attempts. Use the return value as a context manager to restore
    the previous setting::

        with resilience.set_testing(True, attempts=2):
            ...
    """
    if attempts is not None and attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    with CONFIG.lock:
        previous = (CONFIG.testing, CONFIG.testing_attempts)
        CONFIG.testing = testing
        CONFIG.testing_attempts = attempts if testing else None
    return _RestoreTesting(previous)


def is_testing() -> bool:
    """Whether test mode is on (see :func:`set_testing`)."""
    return CONFIG.testing


def set_active(active: bool) -> None:
    """Kill switch: when off, retry makes one attempt and breakers let every call through."""
    with CONFIG.lock:
        CONFIG.active = active


def is_active() -> bool:
    """Whether the resilience components are active (see :func:`set_active`)."""
    return CONFIG.active
