"""Backoff schedules and server hints (``Retry-After``): pure functions of numbers and headers.

Public through :mod:`resilience.retry`; the DLQ schedules its redeliveries with :class:`Backoff`.
"""

from __future__ import annotations

import enum
import math
import random
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["Backoff", "Jitter", "parse_retry_after", "retry_after_hint"]


class Jitter(enum.Enum):
    """How a delay is randomised so that clients that failed together do not retry together.

    With ``d`` the capped exponential delay for a retry and ``cap`` the maximum delay:

    - ``FULL``: uniform in ``[0, d]`` (spreads load best; mean ``d/2``).
    - ``EQUAL``: uniform in ``[d/2, d]`` (never less than half the schedule).
    - ``DECORRELATED``: uniform in ``[base, 3 * previous]``, capped (each wait grows from the last
      actual wait, not from the retry number; ``backoff_factor`` is not used).
    """

    FULL = "full"
    EQUAL = "equal"
    DECORRELATED = "decorrelated"


JitterLike = Jitter | str | bool | None
"""What ``jitter=`` accepts: a :class:`Jitter`, its value, ``None``/``False``/``"none"`` (off) or
``True``."""

SEED_JITTER = Jitter.EQUAL
"""What ``jitter=True`` means: the seed jittered by ±50 % around the schedule (and so could exceed the
cap); ``EQUAL`` keeps its floor of half the computed delay and never exceeds it."""


def as_jitter(value: JitterLike) -> Jitter | None:
    """Normalise a ``jitter=`` argument; raises ``ValueError`` naming the accepted values."""
    if value is None or value is False:
        return None
    if value is True:
        return SEED_JITTER
    if isinstance(value, Jitter):
        return value
    if isinstance(value, str):
        if value.strip().lower() == "none":  # configuration files and environment variables
            return None
        try:
            return Jitter(value.strip().lower())
        except ValueError:
            pass
    raise ValueError(
        f"jitter must be one of 'full', 'equal', 'decorrelated', 'none'/None, True; got {value!r}"
    )


class Backoff:
    """An exponential backoff schedule with a cap, optionally jittered.

    Before jitter, the wait before retry ``n`` (``n = 1`` is the wait before the second attempt) is
    ``min(max_delay, base_delay * backoff_factor ** (n - 1))``: with the defaults 1, 2, 4, 8, ... s,
    capped at 60 s. Jitter (see :class:`Jitter`, default ``"full"``) is applied to that value and the
    result is capped again, so no delay ever exceeds ``max_delay``.

    Args:
        base_delay: first delay in seconds (default 1.0).
        max_delay: cap in seconds, respected after jitter (default 60.0).
        backoff_factor: growth per retry, at least 1 (default 2.0).
        jitter: ``"full"`` (default), ``"equal"``, ``"decorrelated"``, ``None`` for none, or ``True``
            (= ``"equal"``, the seed-compatible choice).
        rng: the random source (a seeded :class:`random.Random` makes schedules reproducible).
    """

    __slots__ = ("_random", "backoff_factor", "base_delay", "jitter", "max_delay")

    def __init__(
        self,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        backoff_factor: float = 2.0,
        jitter: JitterLike = "full",
        rng: random.Random | None = None,
    ) -> None:
        for label, value in (("base_delay", base_delay), ("max_delay", max_delay)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{label} must be a finite number of seconds >= 0, got {value!r}")
        if not (isinstance(backoff_factor, int | float) and math.isfinite(backoff_factor)):
            raise ValueError(f"backoff_factor must be a finite number >= 1, got {backoff_factor!r}")
        if backoff_factor < 1:
            raise ValueError(f"backoff_factor must be >= 1 (delays never shrink), got {backoff_factor!r}")
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.backoff_factor = float(backoff_factor)
        self.jitter = as_jitter(jitter)
        self._random = (rng or random.Random()).random

    def __repr__(self) -> str:
        jitter = self.jitter.value if self.jitter else None
        return (
            f"Backoff(base_delay={self.base_delay}, max_delay={self.max_delay}, "
            f"backoff_factor={self.backoff_factor}, jitter={jitter!r})"
        )

    def ceiling(self, retry_number: int) -> float:
        """The un-jittered delay before retry ``retry_number``: non-decreasing, never above the cap."""
        if retry_number < 1:
            raise ValueError(
                f"retry_number starts at 1 (the wait before the 2nd attempt), got {retry_number}"
            )
        try:
            raw = self.base_delay * self.backoff_factor ** (retry_number - 1)
        except OverflowError:
            return self.max_delay
        return min(self.max_delay, raw)

    def delay(self, retry_number: int, previous_delay: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1 = before the 2nd attempt).

        ``previous_delay`` is the wait actually used before the previous retry; only the
        decorrelated jitter reads it (``None`` means ``base_delay``).
        """
        ceiling = self.ceiling(retry_number)
        jitter = self.jitter
        if jitter is None:
            return ceiling
        if jitter is Jitter.FULL:
            return ceiling * self._random()
        if jitter is Jitter.EQUAL:
            return ceiling / 2 + ceiling / 2 * self._random()
        previous = self.base_delay if previous_delay is None else max(previous_delay, self.base_delay)
        upper = max(self.base_delay, previous * 3)
        return min(self.max_delay, self.base_delay + (upper - self.base_delay) * self._random())


def parse_retry_after(value: str | bytes | float | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or ``None`` if it is absent or malformed.

    Accepts delta-seconds (``"120"``; fractions are tolerated), an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, compared with ``now``, a POSIX timestamp defaulting to
    :func:`time.time`; a date in the past gives 0.0) or a number. Negative or non-finite values are
    malformed.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete format may parse without a zone
        when = when.replace(tzinfo=UTC)
    reference = time.time() if now is None else now
    return max(0.0, when.timestamp() - reference)


def retry_after_hint(outcome: object) -> float | None:
    """The server's requested wait carried by an exception or a response-like result, if any.

    Looked up, in order: a ``retry_after`` attribute (seconds or a header value); the ``Retry-After``
    header of the exception's ``response`` (httpx/requests ``HTTPStatusError``/``HTTPError``); the
    ``Retry-After`` header of the object itself (a response returned as a result).
    """
    try:
        value: Any = getattr(outcome, "retry_after", None)
        if value is not None:
            return parse_retry_after(value)
        carrier = getattr(outcome, "response", None) if isinstance(outcome, BaseException) else outcome
        headers = getattr(carrier, "headers", None)
        if headers is None:
            return None
        value = headers.get("Retry-After")
        if value is None:
            value = headers.get("retry-after")
        return parse_retry_after(value)
    except Exception:  # a foreign object's property may raise (httpx: "request not set"): no hint
        return None
