"""Retry with capped, jittered exponential backoff: a decorator for sync and async functions and a
block form for code that is not a function.

The success path costs one counter increment and one ``try``: everything else (classifying the
error, server hints, budgets, test mode, logging) happens only after a failure.

Order of decisions after a failed attempt:

1. :class:`~resilience.errors.CircuitBreakerError`: give up at once (``on_circuit_open="raise"``,
   the default) or wait the breaker's ``retry_after`` when it fits (``"wait"``).
2. :class:`NonRetryableError` (and subclasses): never retried. :class:`RetryableError`: always
   retried. Any other error is retried only if it is an instance of ``retry_exceptions`` (or, when
   that is a predicate, if the predicate returns true).
3. Kill switch off (:func:`resilience.set_active`): no retry.
4. Attempt limit (or the test-mode attempt count of :func:`resilience.set_testing`).
5. Next delay: the server's ``Retry-After`` (clamped to ``max_delay``) or the backoff schedule; 0 in
   test mode. If the wait would overrun ``timeout``, give up.
6. Shared :class:`~resilience.budget.RetryBudget`: a retry must take a token.
"""

from __future__ import annotations

import enum
import functools
import inspect
import logging
import math
import random
import weakref
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, ParamSpec, Protocol, TypeVar, cast, overload

from resilience._backoff import Backoff, Jitter, JitterLike, parse_retry_after, retry_after_hint
from resilience._clock import MONOTONIC, Clock
from resilience._config import CONFIG
from resilience.budget import RetryBudget
from resilience.errors import (
    CircuitBreakerError,
    ResilienceError,
    RetryBudgetExhaustedError,
    RetryError,
    UpstreamTimeoutError,
)

__all__ = [
    "Attempt",
    "Attempts",
    "Backoff",
    "GiveUpReason",
    "Jitter",
    "NonRetryableError",
    "Retry",
    "RetryBudget",
    "RetryEvent",
    "RetryListener",
    "RetryStatistics",
    "RetryableError",
    "all_statistics",
    "get_statistics",
    "is_async_callable",
    "parse_retry_after",
    "retry",
    "retrying",
]

P = ParamSpec("P")
T = TypeVar("T")

logger = logging.getLogger("resilience.retry")

ExceptionTypes = (
    type[BaseException]
    | tuple[type[BaseException], ...]
    | list[type[BaseException]]
    | Callable[[BaseException], bool]
)
"""What ``retry_exceptions=`` accepts: one exception class, a tuple or a list of them, or a predicate
on the exception."""


class RetryableError(Exception):
    """Base for errors that are always retried, whatever ``retry_exceptions`` says."""


class NonRetryableError(Exception):
    """Base for errors that are never retried, whatever the configuration (4xx, bad input, ...)."""


class GiveUpReason(enum.Enum):
    """Why a retry stopped; the ``reason`` label of the give-up counters."""

    ATTEMPTS = "attempts"
    TIMEOUT = "timeout"
    BUDGET = "budget"
    CIRCUIT_OPEN = "circuit_open"
    NOT_RETRYABLE = "not_retryable"
    INACTIVE = "inactive"


_PASS_THROUGH = frozenset({GiveUpReason.NOT_RETRYABLE, GiveUpReason.CIRCUIT_OPEN, GiveUpReason.INACTIVE})
"""Give-ups that re-raise the error unchanged even with ``wrap=True``: nothing was retried in vain."""


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """What a listener learns after each failed attempt (never after a first-try success).

    ``delay`` is the wait before the next attempt, or ``None`` when the retry gave up for
    ``gave_up``. ``error`` is the attempt's exception, or ``None`` when ``retry_on_result`` rejected
    ``result``.
    """

    name: str
    attempt: int
    delay: float | None
    error: BaseException | None
    result: Any = None
    gave_up: GiveUpReason | None = None


class RetryListener(Protocol):
    """Called with each :class:`RetryEvent`; an exception it raises is logged and ignored."""

    def __call__(self, event: RetryEvent) -> None: ...


class RetryStatistics:
    """Counters of one decorated function (or one block-form policy), read without locks.

    Increments are plain attribute updates, so under heavy multi-threading a count may rarely be
    lost; they are for dashboards, not accounting.
    """

    __slots__ = ("__weakref__", "calls", "errors", "give_ups", "name", "retries")

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        """Calls made (first attempts)."""
        self.retries = 0
        """Retries scheduled (attempts after the first)."""
        self.give_ups: dict[str, int] = {}
        """Calls that ended in failure, by :class:`GiveUpReason` value."""
        self.errors: dict[str, int] = {}
        """Failed attempts that were retried, by exception type name (``"result"`` for results)."""
        _ALL_STATISTICS.add(self)

    @property
    def attempts(self) -> int:
        """Every attempt made: first attempts plus retries."""
        return self.calls + self.retries

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "calls": self.calls,
            "attempts": self.attempts,
            "retries": self.retries,
            "give_ups": dict(self.give_ups),
            "errors": dict(self.errors),
        }

    def __repr__(self) -> str:
        return f"RetryStatistics({self.as_dict()!r})"


_ALL_STATISTICS: weakref.WeakSet[RetryStatistics] = weakref.WeakSet()


def all_statistics() -> list[RetryStatistics]:
    """Every live :class:`RetryStatistics` (what the Prometheus collector exports)."""
    return list(_ALL_STATISTICS)


def get_statistics(func: Callable[..., Any]) -> RetryStatistics:
    """The :class:`RetryStatistics` of a function decorated with :func:`retry` (typed accessor for
    ``func.retry_statistics``)."""
    stats = getattr(func, "retry_statistics", None)
    if not isinstance(stats, RetryStatistics):
        raise TypeError(f"{func!r} is not decorated with resilience.retry")
    return stats


def _exception_tuple(value: object, label: str) -> tuple[type[BaseException], ...]:
    items = tuple(value) if isinstance(value, tuple | list) else (value,)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(
                f"{label} must be an exception class or a tuple/list of them; got {item!r} in {value!r}"
            )
    return items


def is_async_callable(func: object, decorator: str) -> bool:
    """Whether ``func`` is awaited (``async def``, a partial of one, an object with an async
    ``__call__``), decided once at decoration time. Non-callables and generator functions raise
    ``TypeError``: retrying or replacing a generator would only cover its creation, not its items."""
    if not callable(func):
        raise TypeError(f"{decorator} decorates functions, got {func!r}")
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise TypeError(
            f"{decorator} cannot protect the generator function {func!r}: only its creation would be "
            "covered; protect the code that consumes it instead"
        )
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004  # an instance whose __call__ is async
    return not inspect.isfunction(func) and inspect.iscoroutinefunction(call)


def _is_timeout(error: BaseException | None) -> bool:
    """``TimeoutError`` and foreign timeouts (``httpx.ReadTimeout``, ``requests.Timeout``) by name."""
    if error is None:
        return False
    return isinstance(error, TimeoutError) or any("Timeout" in c.__name__ for c in type(error).__mro__)


class Retry:
    """A retry policy: a decorator (``@Retry(...)`` or :func:`retry`) and a block form
    (:meth:`attempts`, :func:`retrying`).

    Backoff: the wait before retry ``n`` is ``min(max_delay, base_delay * backoff_factor ** (n-1))``
    (defaults: 1, 2, 4 s ...), jittered, never above ``max_delay``; see :class:`Backoff`. A
    ``Retry-After`` carried by the error (``retry_after`` attribute or ``error.response`` headers) or
    by a result rejected by ``retry_on_result`` replaces it, clamped to ``max_delay``.

    Giving up re-raises the last error (the seed's behaviour) or, with ``wrap=True``, raises
    :class:`~resilience.errors.RetryError` (:class:`~resilience.errors.UpstreamTimeoutError` when the
    time budget ran out or the last error was a timeout,
    :class:`~resilience.errors.RetryBudgetExhaustedError` when the budget refused) from it. Errors that
    are not retryable, a ``CircuitBreakerError`` and the kill switch always pass through unchanged.
    When ``retry_on_result`` still rejects the last result, it is returned (``wrap=False``) or a
    ``RetryError`` carrying it in ``context["result"]`` is raised.

    Args:
        max_attempts: attempts in all, first included (default 3); ``None`` for no limit.
        retry_exceptions: what to retry: a class, tuple or list (default ``Exception``), or a
            predicate ``(exception) -> bool``.
        base_delay: first wait in seconds (default 1.0).
        max_delay: cap on any wait in seconds (default 60.0).
        backoff_factor: growth per retry (default 2.0).
        jitter: ``True`` (default; = ``"equal"``: uniform in ``[d/2, d]``), ``"full"``, ``"equal"``,
            ``"decorrelated"``, or ``None``/``False`` for none.
        timeout: total time budget in seconds, measured from the first attempt; no wait that would
            overrun it is started (it does not interrupt a running attempt: that is the policy's
            per-attempt timeout). Default ``None``. Footgun: ``max_attempts=None`` with
            ``timeout=None`` retries forever.
        retry_on_result: predicate on a result; ``True`` asks for a retry (e.g. status 503).
        budget: a :class:`RetryBudget` shared with other calls to the same upstream.
        on_circuit_open: ``"raise"`` (give up at once on ``CircuitBreakerError``) or ``"wait"``
            (wait its ``retry_after``, at least the scheduled delay, if ``retry_after`` fits
            ``timeout``, or ``max_delay`` without a timeout).
        wrap: raise ``RetryError`` & co. instead of the last error when giving up.
        clock: time source for waits and the time budget (``ManualClock`` in tests).
        name: label for logs and metrics (default: the function's qualified name).
        listeners: called with a :class:`RetryEvent` after every failed attempt.
        rng: random source for jitter (seed it for reproducible schedules).
    """

    __slots__ = (
        "_predicate",
        "_retryable",
        "_statistics",
        "backoff",
        "budget",
        "clock",
        "listeners",
        "max_attempts",
        "max_delay",
        "name",
        "on_circuit_open",
        "retry_exceptions",
        "retry_on_result",
        "timeout",
        "wrap",
    )

    def __init__(
        self,
        max_attempts: int | None = 3,
        retry_exceptions: ExceptionTypes = Exception,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        backoff_factor: float = 2.0,
        jitter: JitterLike = True,
        *,
        timeout: float | None = None,
        retry_on_result: Callable[[Any], bool] | None = None,
        budget: RetryBudget | None = None,
        on_circuit_open: Literal["raise", "wait"] = "raise",
        wrap: bool = False,
        clock: Clock = MONOTONIC,
        name: str | None = None,
        listeners: Iterable[RetryListener] = (),
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts is not None and (
            isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1
        ):
            raise ValueError(f"max_attempts must be an integer >= 1 or None, got {max_attempts!r}")
        if timeout is not None and not (
            isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0
        ):
            raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
        if on_circuit_open not in ("raise", "wait"):
            raise ValueError(f"on_circuit_open must be 'raise' or 'wait', got {on_circuit_open!r}")
        if retry_on_result is not None and not callable(retry_on_result):
            raise TypeError(f"retry_on_result must be a callable or None, got {retry_on_result!r}")
        if budget is not None and not isinstance(budget, RetryBudget):
            raise TypeError(f"budget must be a RetryBudget or None, got {budget!r}")
        self.max_attempts = max_attempts
        self._predicate: Callable[[BaseException], bool] | None = None
        if callable(retry_exceptions) and not isinstance(retry_exceptions, type):
            self._predicate = retry_exceptions
            retry_exceptions = Exception
        self.retry_exceptions = _exception_tuple(retry_exceptions, "retry_exceptions")
        self._retryable: tuple[type[BaseException], ...] = (RetryableError, *self.retry_exceptions)
        self.backoff = Backoff(base_delay, max_delay, backoff_factor, jitter, rng)
        self.max_delay = self.backoff.max_delay
        self.timeout = None if timeout is None else float(timeout)
        self.retry_on_result = retry_on_result
        self.budget = budget
        self.on_circuit_open = on_circuit_open
        self.wrap = wrap
        self.clock = clock
        self.name = name
        self.listeners = tuple(listeners)
        self._statistics: RetryStatistics | None = None

    @property
    def statistics(self) -> RetryStatistics:
        """Counters of the block form (:meth:`attempts`); each decorated function has its own."""
        if self._statistics is None:
            self._statistics = RetryStatistics(self.name or "retrying")
        return self._statistics

    def __repr__(self) -> str:
        return (
            f"Retry(name={self.name!r}, max_attempts={self.max_attempts}, timeout={self.timeout}, "
            f"retry_exceptions={self._predicate or self.retry_exceptions!r}, backoff={self.backoff!r})"
        )

    def is_retryable(self, error: BaseException) -> bool:
        """Whether ``error`` may be retried at all (ignoring limits and budgets)."""
        if isinstance(error, NonRetryableError):
            return False
        if self._predicate is not None:
            return isinstance(error, RetryableError) or self._predicate(error)
        return isinstance(error, self._retryable)

    def __call__(self, func: Callable[P, T]) -> Callable[P, T]:
        """Decorate a plain or ``async def`` function (decided here, once)."""
        is_async = is_async_callable(func, "retry")
        name = self.name or f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', func)}"
        stats = RetryStatistics(name)
        wrapper = self._wrap_async(func, stats) if is_async else self._wrap_sync(func, stats)
        wrapper.retry_statistics = stats  # type: ignore[attr-defined]
        return wrapper

    def _wrap_sync(self, func: Callable[P, T], stats: RetryStatistics) -> Callable[P, T]:
        budget, check, clock = self.budget, self.retry_on_result, self.clock
        timed = self.timeout is not None

        @functools.wraps(func)
        def retrying_call(*args: P.args, **kwargs: P.kwargs) -> T:
            stats.calls += 1
            if budget is not None:
                budget.deposit()
            started = clock.monotonic() if timed else 0.0
            error: Exception | None = None
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                error, result = exc, cast(T, None)
            else:
                if check is None or not check(result):
                    return result
            run = _Run(self, stats, started)
            while True:
                delay = run.after_failure(error, result)
                if delay is None:
                    return cast(T, run.give_up(error, result))
                if delay > 0:
                    clock.sleep(delay)
                try:
                    result = func(*args, **kwargs)
                except Exception as exc:
                    error, result = exc, cast(T, None)
                    continue
                if check is None or not check(result):
                    run.recovered()
                    return result
                error = None

        return retrying_call

    def _wrap_async(self, func: Callable[P, T], stats: RetryStatistics) -> Callable[P, T]:
        afunc = cast(Callable[P, Coroutine[Any, Any, Any]], func)
        budget, check, clock = self.budget, self.retry_on_result, self.clock
        timed = self.timeout is not None

        @functools.wraps(func)
        async def retrying_call(*args: P.args, **kwargs: P.kwargs) -> Any:
            stats.calls += 1
            if budget is not None:
                budget.deposit()
            started = clock.monotonic() if timed else 0.0
            error: Exception | None = None
            try:
                result = await afunc(*args, **kwargs)
            except Exception as exc:
                error, result = exc, None
            else:
                if check is None or not check(result):
                    return result
            run = _Run(self, stats, started)
            while True:
                delay = run.after_failure(error, result)
                if delay is None:
                    return run.give_up(error, result)
                if delay > 0:
                    await clock.async_sleep(delay)
                try:
                    result = await afunc(*args, **kwargs)
                except Exception as exc:
                    error, result = exc, None
                    continue
                if check is None or not check(result):
                    run.recovered()
                    return result
                error = None

        return cast(Callable[P, T], retrying_call)

    def attempts(self) -> Attempts:
        """A fresh block-form iterator: ``for attempt in policy.attempts(): with attempt: ...``
        (``async for`` in async code). Retries on exceptions only (``retry_on_result`` is not used)."""
        return Attempts(self)


class _Run:
    """The state of one call after its first failure: attempt number, start, previous wait."""

    __slots__ = ("attempt", "policy", "previous", "reason", "started", "stats")

    def __init__(self, policy: Retry, stats: RetryStatistics, started: float) -> None:
        self.policy = policy
        self.stats = stats
        self.started = started
        self.attempt = 1
        self.previous: float | None = None
        self.reason: GiveUpReason | None = None

    def after_failure(self, error: BaseException | None, result: Any) -> float | None:
        """After attempt ``self.attempt`` failed: the wait before the next one, or ``None`` to give
        up (``self.reason`` says why). Only here are test mode and the kill switch consulted."""
        policy = self.policy
        circuit = isinstance(error, CircuitBreakerError)
        if circuit:
            if policy.on_circuit_open == "raise":
                return self._stop(GiveUpReason.CIRCUIT_OPEN, error, result)
        elif error is not None and not policy.is_retryable(error):
            return self._stop(GiveUpReason.NOT_RETRYABLE, error, result)
        if not CONFIG.active:
            return self._stop(GiveUpReason.INACTIVE, error, result)
        testing = CONFIG.testing
        limit = (CONFIG.testing_attempts or policy.max_attempts) if testing else policy.max_attempts
        if limit is not None and self.attempt >= limit:
            return self._stop(GiveUpReason.ATTEMPTS, error, result)
        if circuit:
            # Never less than the schedule: a half-open breaker that is merely full says 0, and
            # retrying at once would spin until the attempts or the time budget run out.
            retry_after = cast(CircuitBreakerError, error).retry_after
            if retry_after > (policy.max_delay if policy.timeout is None else policy.timeout):
                return self._stop(GiveUpReason.CIRCUIT_OPEN, error, result)
            delay = max(retry_after, policy.backoff.delay(self.attempt, self.previous))
        else:
            hint = retry_after_hint(error if error is not None else result)
            if hint is None:
                delay = policy.backoff.delay(self.attempt, self.previous)
            else:
                delay = min(hint, policy.max_delay)
        if testing:
            delay = 0.0
        if policy.timeout is not None and policy.clock.monotonic() - self.started + delay > policy.timeout:
            reason = GiveUpReason.CIRCUIT_OPEN if circuit else GiveUpReason.TIMEOUT
            return self._stop(reason, error, result)
        if policy.budget is not None and not policy.budget.try_withdraw():
            return self._stop(GiveUpReason.BUDGET, error, result)
        stats = self.stats
        stats.retries += 1
        kind = "result" if error is None else type(error).__name__
        stats.errors[kind] = stats.errors.get(kind, 0) + 1
        if logger.isEnabledFor(logging.WARNING):
            logger.warning(
                "%s: attempt %d failed (%s); retrying in %.3fs",
                stats.name,
                self.attempt,
                "rejected result" if error is None else repr(error),
                delay,
                extra={"retry_name": stats.name, "attempt": self.attempt, "delay": delay},
            )
        if policy.listeners:
            self._notify(RetryEvent(stats.name, self.attempt, delay, error, result))
        self.previous = delay
        self.attempt += 1
        return delay

    def _stop(self, reason: GiveUpReason, error: BaseException | None, result: Any) -> float | None:
        """Record and log a give-up; returns ``None`` so callers can ``return self._stop(...)``."""
        self.reason = reason
        stats = self.stats
        stats.give_ups[reason.value] = stats.give_ups.get(reason.value, 0) + 1
        level = logging.DEBUG if reason is GiveUpReason.NOT_RETRYABLE else logging.WARNING
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "%s: giving up after %d attempt(s) (%s): %s",
                stats.name,
                self.attempt,
                reason.value,
                "rejected result" if error is None else repr(error),
                extra={"retry_name": stats.name, "attempt": self.attempt, "reason": reason.value},
            )
        if self.policy.listeners:
            self._notify(RetryEvent(stats.name, self.attempt, None, error, result, reason))
        return None

    def _notify(self, event: RetryEvent) -> None:
        for listener in self.policy.listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("retry listener %r failed", listener)

    def recovered(self) -> None:
        logger.info("%s: succeeded on attempt %d", self.stats.name, self.attempt)

    def wrapped(self, error: BaseException | None, result: Any) -> ResilienceError | None:
        """The error to raise instead of ``error`` on giving up, or ``None`` to pass it through."""
        reason = self.reason
        if not self.policy.wrap or reason is None or reason in _PASS_THROUGH:
            return None
        cls: type[RetryError] | type[RetryBudgetExhaustedError]
        if reason is GiveUpReason.BUDGET:
            cls = RetryBudgetExhaustedError
        elif reason is GiveUpReason.TIMEOUT or _is_timeout(error):
            cls = UpstreamTimeoutError
        else:
            cls = RetryError
        what = "result rejected" if error is None else f"last error: {error!r}"
        context: dict[str, Any] = {"name": self.stats.name, "attempts": self.attempt, "reason": reason.value}
        if error is None:
            context["result"] = result
        return cls(
            f"{self.stats.name}: gave up after {self.attempt} attempt(s) ({reason.value}); {what}", **context
        )

    def give_up(self, error: BaseException | None, result: Any) -> Any:
        """Raise what giving up raises, or return the rejected result (``wrap=False``)."""
        failure = self.wrapped(error, result)
        if failure is not None:
            raise failure from error
        if error is not None:
            raise error
        return result


class Attempt:
    """One attempt of a retrying block: ``with attempt:`` records how it ended."""

    __slots__ = ("_attempts", "number")

    def __init__(self, attempts: Attempts, number: int) -> None:
        self._attempts = attempts
        self.number = number
        """1 for the first attempt."""

    def __repr__(self) -> str:
        return f"<Attempt {self.number}>"

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return self._attempts._finish(exc)


class Attempts:
    """Iterate (``for``/``async for``) to get :class:`Attempt` objects until one succeeds.

    The wait between attempts happens in ``__next__`` (``clock.sleep``) or ``__anext__``
    (``clock.async_sleep``, never blocking the loop). Giving up raises from the ``with`` block.
    """

    __slots__ = ("_delay", "_done", "_policy", "_run")

    def __init__(self, policy: Retry) -> None:
        self._policy = policy
        self._run: _Run | None = None
        self._delay: float | None = None
        self._done = False

    def __iter__(self) -> Attempts:
        return self

    def __aiter__(self) -> Attempts:
        return self

    def _start(self) -> Attempt:
        policy = self._policy
        policy.statistics.calls += 1
        if policy.budget is not None:
            policy.budget.deposit()
        self._run = _Run(policy, policy.statistics, policy.clock.monotonic())
        return Attempt(self, 1)

    def _advance(self) -> tuple[_Run, float]:
        # No pending delay means the last attempt succeeded or was not run inside ``with``: stop.
        run, delay = self._run, self._delay
        if self._done or run is None or delay is None:
            raise StopIteration
        self._delay = None
        return run, delay

    def __next__(self) -> Attempt:
        if self._run is None:
            return self._start()
        run, delay = self._advance()
        if delay > 0:
            self._policy.clock.sleep(delay)
        return Attempt(self, run.attempt)

    async def __anext__(self) -> Attempt:
        if self._run is None:
            return self._start()
        try:
            run, delay = self._advance()
        except StopIteration:
            raise StopAsyncIteration from None
        if delay > 0:
            await self._policy.clock.async_sleep(delay)
        return Attempt(self, run.attempt)

    def _finish(self, error: BaseException | None) -> bool:
        run = self._run
        assert run is not None, "an Attempt is only made by Attempts"
        if error is None:
            self._done = True
            if run.attempt > 1:
                run.recovered()
            return False
        if not isinstance(error, Exception):  # KeyboardInterrupt, CancelledError: never retried
            return False
        delay = run.after_failure(error, None)
        if delay is None:
            failure = run.wrapped(error, None)
            if failure is None:
                return False
            raise failure from error
        self._delay = delay
        return True


@overload
def retry(max_attempts: Callable[P, T], /) -> Callable[P, T]: ...


@overload
def retry(
    max_attempts: int | None = 3,
    retry_exceptions: ExceptionTypes = Exception,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    backoff_factor: float = 2.0,
    jitter: JitterLike = True,
    *,
    timeout: float | None = None,
    retry_on_result: Callable[[Any], bool] | None = None,
    budget: RetryBudget | None = None,
    on_circuit_open: Literal["raise", "wait"] = "raise",
    wrap: bool = False,
    clock: Clock = MONOTONIC,
    name: str | None = None,
    listeners: Iterable[RetryListener] = (),
    rng: random.Random | None = None,
) -> Retry: ...


def retry(
    max_attempts: int | Callable[P, T] | None = 3,
    retry_exceptions: ExceptionTypes = Exception,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    backoff_factor: float = 2.0,
    jitter: JitterLike = True,
    *,
    timeout: float | None = None,
    retry_on_result: Callable[[Any], bool] | None = None,
    budget: RetryBudget | None = None,
    on_circuit_open: Literal["raise", "wait"] = "raise",
    wrap: bool = False,
    clock: Clock = MONOTONIC,
    name: str | None = None,
    listeners: Iterable[RetryListener] = (),
    rng: random.Random | None = None,
) -> Retry | Callable[P, T]:
    """Retry decorator with capped, jittered exponential backoff (the seed's signature, extended).

    ``@retry(max_attempts=3, retry_exceptions=ConnectionError)`` on a plain or ``async def``
    function (bare ``@retry`` uses the defaults); the decorated function gets ``retry_statistics``.
    See :class:`Retry` for every argument (defaults: 3 attempts, waits 1 s then 2 s with equal
    jitter, cap 60 s, last error re-raised).
    """
    if callable(max_attempts):
        return Retry()(max_attempts)
    return Retry(
        max_attempts, retry_exceptions, base_delay, max_delay, backoff_factor, jitter,
        timeout=timeout, retry_on_result=retry_on_result, budget=budget, on_circuit_open=on_circuit_open,
        wrap=wrap, clock=clock, name=name, listeners=listeners, rng=rng,
    )  # fmt: skip


def retrying(
    max_attempts: int | None = 3,
    retry_exceptions: ExceptionTypes = Exception,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    backoff_factor: float = 2.0,
    jitter: JitterLike = True,
    *,
    timeout: float | None = None,
    budget: RetryBudget | None = None,
    on_circuit_open: Literal["raise", "wait"] = "raise",
    wrap: bool = False,
    clock: Clock = MONOTONIC,
    name: str | None = None,
    listeners: Iterable[RetryListener] = (),
    rng: random.Random | None = None,
) -> Attempts:
    """Block form of :func:`retry` for code that is not a function::

        for attempt in retrying(max_attempts=5, retry_exceptions=ConnectionError):
            with attempt:
                send(batch)

    In async code use ``async for attempt in retrying(...)`` (same ``with attempt:`` inside).
    """
    policy = Retry(
        max_attempts, retry_exceptions, base_delay, max_delay, backoff_factor, jitter,
        timeout=timeout, budget=budget, on_circuit_open=on_circuit_open, wrap=wrap, clock=clock,
        name=name, listeners=listeners, rng=rng,
    )  # fmt: skip
    return policy.attempts()
