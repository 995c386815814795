"""The circuit breaker: stop calling an upstream that keeps failing, probe it, resume when healthy.

Reading order: :class:`BreakerConfig` (resilience4j's vocabulary in snake_case, validated), the
:class:`CircuitState` enum and the table of allowed transitions, the pure :func:`evaluate` that
turns a window's totals into a :class:`Verdict`, the event types listeners receive, then
:class:`CircuitBreaker` itself.

Trip rules (the breaker never starts a timer or a thread; time comes from the injected clock):

- ``CONSECUTIVE`` (default, the seed's model): open after ``failure_threshold`` (5) bad calls in a
  row; a bad call failed or, when ``slow_call_duration_threshold`` is set, was slow.
- ``COUNT_BASED`` / ``TIME_BASED``: over the last ``sliding_window_size`` calls / seconds, once at
  least ``minimum_number_of_calls`` were recorded, open when ``100 * failures / calls >=
  failure_rate_threshold`` (50) or ``100 * slow / calls >= slow_call_rate_threshold`` (100).
- ``OPEN`` lasts ``wait_duration_in_open_state`` (30 s, the seed's ``recovery_timeout``) times
  ``wait_duration_multiplier ** (trips in a row - 1)``, capped at ``max_wait_duration_in_open_state``.
  Then ``HALF_OPEN`` admits ``permitted_number_of_calls_in_half_open_state`` (1) probes and rejects
  everyone else; any bad probe (consecutive model) or probe rates over the thresholds (window models)
  re-open, otherwise it closes. ``max_wait_duration_in_half_open_state`` re-opens a half-open breaker
  whose probes never finish.

Footguns: an outcome is only recorded in the state that admitted the call (a slow call admitted
while closed that fails after the breaker re-closed is not counted twice against it); exceptions
outside ``record_exceptions`` (when given) count as successes, as in resilience4j; ``call()`` is for
plain functions, ``acall()`` and the decorator for coroutine functions.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import importlib
import inspect
import itertools
import logging
import threading
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast, overload

from resilience._clock import MONOTONIC, Clock
from resilience._config import CONFIG
from resilience._window import (
    ConsecutiveWindow,
    CountWindow,
    Snapshot,
    TimeWindow,
    Totals,
    Window,
    snapshot,
)
from resilience.errors import CircuitBreakerError

__all__ = [
    "AUTOMATIC_TRANSITIONS",
    "DEFAULT_FAILURE_RATE_THRESHOLD",
    "DEFAULT_FAILURE_THRESHOLD",
    "DEFAULT_MINIMUM_NUMBER_OF_CALLS",
    "DEFAULT_PERMITTED_NUMBER_OF_CALLS_IN_HALF_OPEN_STATE",
    "DEFAULT_SLIDING_WINDOW_SIZE",
    "DEFAULT_SLOW_CALL_RATE_THRESHOLD",
    "DEFAULT_WAIT_DURATION_IN_OPEN_STATE",
    "DEFAULT_WAIT_DURATION_MULTIPLIER",
    "MANUAL_TARGETS",
    "BreakerConfig",
    "BreakerListener",
    "CallEvent",
    "CallHook",
    "CallOutcome",
    "CircuitBreaker",
    "CircuitBreakerError",
    "CircuitState",
    "SlidingWindowType",
    "Snapshot",
    "StateTransition",
    "Verdict",
    "evaluate",
]

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("resilience.breaker")

DEFAULT_FAILURE_THRESHOLD = 5
"""Bad calls in a row that open a ``CONSECUTIVE`` breaker (the seed's default)."""
DEFAULT_FAILURE_RATE_THRESHOLD = 50.0
"""Percent of failed calls in the window that opens a window breaker."""
DEFAULT_SLOW_CALL_RATE_THRESHOLD = 100.0
"""Percent of slow calls in the window that opens a window breaker."""
DEFAULT_SLIDING_WINDOW_SIZE = 100
"""Calls (``COUNT_BASED``) or seconds (``TIME_BASED``) in the window."""
DEFAULT_MINIMUM_NUMBER_OF_CALLS = 100
"""Calls a window needs before rates are evaluated (capped at the size of a count window)."""
DEFAULT_WAIT_DURATION_IN_OPEN_STATE = 30.0
"""Seconds the breaker stays open before a probe (the seed's ``recovery_timeout``)."""
DEFAULT_WAIT_DURATION_MULTIPLIER = 1.0
"""Growth of the open duration per trip in a row; 1 means constant."""
DEFAULT_PERMITTED_NUMBER_OF_CALLS_IN_HALF_OPEN_STATE = 1
"""Probe calls admitted in half-open."""


class SlidingWindowType(enum.Enum):
    """Which failure model decides when to open."""

    CONSECUTIVE = "CONSECUTIVE"
    COUNT_BASED = "COUNT_BASED"
    TIME_BASED = "TIME_BASED"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _check_percent(name: str, value: object) -> None:
    if not _is_number(value) or not 0 < cast(float, value) <= 100:
        raise ValueError(f"{name} must be a percentage in (0, 100], got {value!r}")


def _check_seconds(name: str, value: object, *, optional: bool, positive: bool) -> None:
    if value is None and optional:
        return
    bound = "> 0" if positive else ">= 0"
    off = " or None (off)" if optional else ""
    if not _is_number(value) or value != value or cast(float, value) < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a number of seconds {bound}{off}, got {value!r}")


def _check_exceptions(name: str, value: object) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(item, type) and issubclass(item, BaseException) for item in value
    ):
        raise ValueError(f"{name} must be a tuple of exception classes, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class BreakerConfig:
    """Everything a breaker's behaviour depends on; resilience4j names in snake_case.

    Durations are seconds; rates are percent. ``None`` means off. Build variants with
    :func:`dataclasses.replace`; read files with :meth:`from_mapping`. Invalid values raise
    :class:`ValueError` naming the field.
    """

    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    """``CONSECUTIVE``: bad calls in a row that open the breaker."""
    sliding_window_type: SlidingWindowType = SlidingWindowType.CONSECUTIVE
    sliding_window_size: int = DEFAULT_SLIDING_WINDOW_SIZE
    """Calls (``COUNT_BASED``) or whole seconds (``TIME_BASED``)."""
    minimum_number_of_calls: int = DEFAULT_MINIMUM_NUMBER_OF_CALLS
    """Window models: no rate is evaluated below this many calls (count windows cap it at their size)."""
    failure_rate_threshold: float = DEFAULT_FAILURE_RATE_THRESHOLD
    slow_call_rate_threshold: float = DEFAULT_SLOW_CALL_RATE_THRESHOLD
    slow_call_duration_threshold: float | None = None
    """Calls lasting at least this long are slow; ``None`` turns slow-call detection (and timing) off."""
    wait_duration_in_open_state: float = DEFAULT_WAIT_DURATION_IN_OPEN_STATE
    wait_duration_multiplier: float = DEFAULT_WAIT_DURATION_MULTIPLIER
    """The open duration is multiplied by this for every trip in a row (a failed probe re-opens)."""
    max_wait_duration_in_open_state: float | None = None
    """Cap on the grown open duration; required when ``wait_duration_multiplier > 1``."""
    permitted_number_of_calls_in_half_open_state: int = DEFAULT_PERMITTED_NUMBER_OF_CALLS_IN_HALF_OPEN_STATE
    max_wait_duration_in_half_open_state: float | None = None
    """Re-open when the probes have not decided within this many seconds; ``None`` waits forever."""
    record_exceptions: tuple[type[BaseException], ...] = ()
    """Exceptions that count as failures; empty means every :class:`Exception`. Others count as success."""
    ignore_exceptions: tuple[type[BaseException], ...] = ()
    """Exceptions that count as neither success nor failure (they win over ``record_exceptions``)."""
    record_result: Callable[[Any], bool] | None = None
    """Predicate on a returned value: true means the call failed (e.g. a response with status 503)."""

    def __post_init__(self) -> None:
        _check_count("failure_threshold", self.failure_threshold)
        if not isinstance(self.sliding_window_type, SlidingWindowType):
            choices = ", ".join(t.value for t in SlidingWindowType)
            raise ValueError(
                f"sliding_window_type must be one of {choices}, got {self.sliding_window_type!r}"
            )
        _check_count("sliding_window_size", self.sliding_window_size)
        _check_count("minimum_number_of_calls", self.minimum_number_of_calls)
        _check_percent("failure_rate_threshold", self.failure_rate_threshold)
        _check_percent("slow_call_rate_threshold", self.slow_call_rate_threshold)
        _check_seconds(
            "slow_call_duration_threshold", self.slow_call_duration_threshold, optional=True, positive=True
        )
        _check_seconds(
            "wait_duration_in_open_state (recovery_timeout)",
            self.wait_duration_in_open_state,
            optional=False,
            positive=False,
        )
        if not _is_number(self.wait_duration_multiplier) or not self.wait_duration_multiplier >= 1:
            raise ValueError(
                f"wait_duration_multiplier must be a number >= 1, got {self.wait_duration_multiplier!r}"
            )
        _check_seconds(
            "max_wait_duration_in_open_state",
            self.max_wait_duration_in_open_state,
            optional=True,
            positive=True,
        )
        _check_count(
            "permitted_number_of_calls_in_half_open_state", self.permitted_number_of_calls_in_half_open_state
        )
        _check_seconds(
            "max_wait_duration_in_half_open_state",
            self.max_wait_duration_in_half_open_state,
            optional=True,
            positive=True,
        )
        _check_exceptions("record_exceptions", self.record_exceptions)
        _check_exceptions("ignore_exceptions", self.ignore_exceptions)
        if self.record_result is not None and not callable(self.record_result):
            raise ValueError(f"record_result must be a callable or None, got {self.record_result!r}")
        # Cross-field rules, all in one place.
        cap = self.max_wait_duration_in_open_state
        if self.wait_duration_multiplier > 1 and cap is None:
            raise ValueError(
                "max_wait_duration_in_open_state must be set when wait_duration_multiplier > 1 "
                "(the open duration needs a cap)"
            )
        if cap is not None and cap < self.wait_duration_in_open_state:
            raise ValueError(
                f"max_wait_duration_in_open_state ({cap}) must be >= wait_duration_in_open_state "
                f"({self.wait_duration_in_open_state})"
            )
        if (
            self.slow_call_rate_threshold != DEFAULT_SLOW_CALL_RATE_THRESHOLD
            and self.slow_call_duration_threshold is None
        ):
            raise ValueError(
                "slow_call_rate_threshold has no effect without slow_call_duration_threshold; set both"
            )

    @property
    def minimum_calls(self) -> int:
        """The effective minimum: ``minimum_number_of_calls``, capped at a count window's size."""
        if self.sliding_window_type is SlidingWindowType.COUNT_BASED:
            return min(self.minimum_number_of_calls, self.sliding_window_size)
        return self.minimum_number_of_calls

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[str, Any],
        *,
        where: str,
        ignore_keys: Collection[str] = (),
        base: BreakerConfig | None = None,
    ) -> BreakerConfig:
        """Build a config from plain data (a parsed JSON/YAML section), e.g. the seed's
        ``{"failure_threshold": 3, "recovery_timeout": 60}``.

        Keys are the field names plus the seed's ``recovery_timeout`` (an alias of
        ``wait_duration_in_open_state``). ``sliding_window_type`` is a string; the exception lists
        are lists of (dotted) class names such as ``"TimeoutError"`` or ``"httpx.ConnectError"``.
        ``record_result`` is code, not data, and cannot be set here. Keys in ``ignore_keys`` are
        skipped (so a policy section can carry its own ``retry``/``timeout``/``fallback`` keys);
        any other unknown key is an error. Unset fields come from ``base`` (default: the defaults).
        Every error is a :class:`ValueError` that starts with ``where`` and names the key.
        """
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{where}: expected a mapping of breaker options, got {type(mapping).__name__}")
        settable = {f.name for f in dataclasses.fields(cls)} - {"record_result"}
        values: dict[str, Any] = {}
        for key, value in mapping.items():
            if key in ignore_keys:
                continue
            field = _SEED_ALIASES.get(key, key)
            if key == "record_result":
                raise ValueError(f"{where}.record_result: a result predicate is Python code; set it in code")
            if field not in settable:
                known = ", ".join(sorted(settable | _SEED_ALIASES.keys()))
                raise ValueError(f"{where}: unknown breaker option {key!r} (known: {known})")
            if field in values:
                raise ValueError(f"{where}: {key!r} and {field!r} are the same option; give one")
            values[field] = _convert(field, value, f"{where}.{key}")
        try:
            return dataclasses.replace(base or cls(), **values)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


_SEED_ALIASES = {"recovery_timeout": "wait_duration_in_open_state"}


def _convert(field: str, value: Any, where: str) -> Any:
    """Turn a data value into a field value (window type by name, exceptions by dotted name)."""
    if field == "sliding_window_type":
        if isinstance(value, str):
            try:
                return SlidingWindowType(value.strip().upper().replace("-", "_"))
            except ValueError:
                pass
        choices = ", ".join(t.value for t in SlidingWindowType)
        raise ValueError(f"{where}: expected one of {choices}, got {value!r}")
    if field in ("record_exceptions", "ignore_exceptions"):
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ValueError(f"{where}: expected a list of exception class names, got {value!r}")
        return tuple(_import_exception(name, where) for name in names)
    return value


def _import_exception(dotted: str, where: str) -> type[BaseException]:
    module_name, _, attr = dotted.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name or "builtins"), attr)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(f"{where}: cannot import exception class {dotted!r}") from None
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise ValueError(f"{where}: {dotted!r} is not an exception class")
    return found


class CircuitState(enum.Enum):
    """Where a breaker is. The first three are automatic; the others are set by hand."""

    CLOSED = "CLOSED"
    """Calls flow; outcomes are recorded and evaluated."""
    OPEN = "OPEN"
    """Calls are rejected until the open duration has passed."""
    HALF_OPEN = "HALF_OPEN"
    """A few probes are admitted; their outcome closes or re-opens."""
    FORCED_OPEN = "FORCED_OPEN"
    """Rejects everything until :meth:`CircuitBreaker.reset`."""
    DISABLED = "DISABLED"
    """Forced closed: admits everything, records nothing."""
    METRICS_ONLY = "METRICS_ONLY"
    """Admits everything and records outcomes, but never trips."""


_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN
_FORCED_OPEN = CircuitState.FORCED_OPEN
_DISABLED = CircuitState.DISABLED
_METRICS_ONLY = CircuitState.METRICS_ONLY

AUTOMATIC_TRANSITIONS: Mapping[CircuitState, frozenset[CircuitState]] = {
    _CLOSED: frozenset({_OPEN}),
    _OPEN: frozenset({_HALF_OPEN}),
    _HALF_OPEN: frozenset({_CLOSED, _OPEN}),
    _FORCED_OPEN: frozenset(),
    _DISABLED: frozenset(),
    _METRICS_ONLY: frozenset(),
}
"""The only moves a breaker makes by itself (the forced states never leave on their own)."""

MANUAL_TARGETS: frozenset[CircuitState] = frozenset({_CLOSED, _FORCED_OPEN, _DISABLED, _METRICS_ONLY})
"""States reachable by hand from any other state: reset, force_open, disable, metrics_only."""


class Verdict(enum.Enum):
    """What the totals say, separate from what the breaker does about it."""

    BELOW_MINIMUM_CALLS = "below minimum number of calls"
    BELOW_THRESHOLDS = "below thresholds"
    FAILURE_THRESHOLD_REACHED = "consecutive failure threshold reached"
    FAILURE_RATE_ABOVE_THRESHOLD = "failure rate above threshold"
    SLOW_CALL_RATE_ABOVE_THRESHOLD = "slow call rate above threshold"
    FAILURE_AND_SLOW_CALL_RATES_ABOVE_THRESHOLDS = "failure and slow call rates above thresholds"

    @property
    def trips(self) -> bool:
        """Whether the breaker should open."""
        return self not in _CALM


_CALM = (Verdict.BELOW_MINIMUM_CALLS, Verdict.BELOW_THRESHOLDS)
"""Verdicts that keep the breaker where it is (a tuple: identity checks, no enum hashing)."""
_CONSECUTIVE = SlidingWindowType.CONSECUTIVE
_TRIPPED = Verdict.FAILURE_THRESHOLD_REACHED


def evaluate(totals: Totals, config: BreakerConfig, *, half_open: bool = False) -> Verdict:
    """Decide from a window's totals whether to open; pure, allocation-free.

    Closed: ``CONSECUTIVE`` trips at ``failures >= failure_threshold``; window models need
    ``calls >= config.minimum_calls`` and then trip when ``100 * failures >= failure_rate_threshold
    * calls`` or (slow detection on) ``100 * slow_calls >= slow_call_rate_threshold * calls``.
    Half-open (the probes' count window): ``CONSECUTIVE`` trips on the first failed or slow probe;
    window models wait for all permitted probes and apply the same rates.
    """
    if config.sliding_window_type is _CONSECUTIVE:
        bad = totals.failures + totals.slow_calls if half_open else totals.failures
        limit = 1 if half_open else config.failure_threshold
        return Verdict.FAILURE_THRESHOLD_REACHED if bad >= limit else Verdict.BELOW_THRESHOLDS
    calls = totals.calls
    minimum = config.permitted_number_of_calls_in_half_open_state if half_open else config.minimum_calls
    if calls < minimum:
        return Verdict.BELOW_MINIMUM_CALLS
    failing = totals.failures * 100 >= config.failure_rate_threshold * calls
    slow = (
        config.slow_call_duration_threshold is not None
        and totals.slow_calls * 100 >= config.slow_call_rate_threshold * calls
    )
    if failing and slow:
        return Verdict.FAILURE_AND_SLOW_CALL_RATES_ABOVE_THRESHOLDS
    if failing:
        return Verdict.FAILURE_RATE_ABOVE_THRESHOLD
    return Verdict.SLOW_CALL_RATE_ABOVE_THRESHOLD if slow else Verdict.BELOW_THRESHOLDS


@dataclass(frozen=True, slots=True)
class StateTransition:
    """A breaker changed state; what listeners receive.

    ``at`` is the breaker clock's monotonic reading; ``retry_after`` the seconds until a probe is
    admitted (non-zero only when entering ``OPEN``); ``manual`` tells a hand-made move.
    """

    breaker: str
    from_state: CircuitState
    to_state: CircuitState
    reason: str
    manual: bool
    at: float
    retry_after: float


class CallOutcome(enum.Enum):
    """How one call through a breaker ended; the values are metric label values."""

    SUCCESS = "success"
    FAILURE = "failure"
    SLOW_SUCCESS = "slow_success"
    SLOW_FAILURE = "slow_failure"
    IGNORED = "ignored"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One call's outcome, for call hooks (metrics). ``duration`` is seconds, when it was timed."""

    breaker: str
    outcome: CallOutcome
    duration: float | None


BreakerListener = Callable[[StateTransition], None]
"""Receives every state transition, after the breaker's lock is released."""
CallHook = Callable[[CallEvent], None]
"""Receives every call's outcome; attaching one turns off the lock-free success path."""

_OUTCOMES = {
    (False, False): CallOutcome.SUCCESS,
    (True, False): CallOutcome.FAILURE,
    (False, True): CallOutcome.SLOW_SUCCESS,
    (True, True): CallOutcome.SLOW_FAILURE,
}
_NO_RECORD = -1
"""Permit for a call whose outcome is not recorded (disabled breaker, kill switch)."""
_REJECTED = -2
_names = itertools.count(1)


async def _resolve(value: Any) -> Any:
    """Await a fallback's result when the fallback is a coroutine function."""
    return await value if inspect.isawaitable(value) else value


class CircuitBreaker:
    """A circuit breaker for sync and async callables; see the module docstring for trip rules.

    ``CircuitBreaker(failure_threshold=5, recovery_timeout=30, fallback_function=None)`` is the
    seed's surface: a decorator (it detects ``async def`` once, at decoration), ``call(func, *args,
    **kwargs)``, ``reset()`` and ``get_state()``. Pass ``config=BreakerConfig(...)`` for everything
    else (then leave the two positional thresholds at their defaults). ``fallback_function`` (sync
    or async) gets the call's arguments and its result is returned when the breaker rejects the call
    or the call raises an :class:`Exception`. Rejections raise :class:`CircuitBreakerError` with the
    breaker's ``name``, the refusing ``state`` and ``retry_after`` seconds.

    Concurrency: no lock is held while the protected call runs. While closed with nothing to record
    (consecutive model, no failures, no slow-call timing, no result predicate, no call hooks) a
    success takes no lock at all; every other bookkeeping step holds one :class:`threading.Lock`
    for a few attribute updates, never across an ``await``, so one breaker serves threads and
    tasks alike. With :func:`resilience.set_active` off, calls pass straight through.
    """

    __slots__ = (
        "__weakref__",
        "_call_hooks",
        "_clock",
        "_config",
        "_dirty",
        "_epoch",
        "_fast_epoch",
        "_fast_ok",
        "_half_open_since",
        "_last_failure_time",
        "_listeners",
        "_lock",
        "_messages",
        "_name",
        "_open_until",
        "_outbox",
        "_probe_window",
        "_probes_issued",
        "_state",
        "_trips",
        "_window",
        "fallback_function",
    )

    def __init__(
        self,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        recovery_timeout: float = DEFAULT_WAIT_DURATION_IN_OPEN_STATE,
        fallback_function: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        config: BreakerConfig | None = None,
        clock: Clock = MONOTONIC,
        listeners: Iterable[BreakerListener] = (),
    ) -> None:
        if config is None:
            config = BreakerConfig(
                failure_threshold=failure_threshold, wait_duration_in_open_state=recovery_timeout
            )
        elif (failure_threshold, recovery_timeout) != (
            DEFAULT_FAILURE_THRESHOLD,
            DEFAULT_WAIT_DURATION_IN_OPEN_STATE,
        ):
            raise ValueError(
                "give failure_threshold and recovery_timeout either as arguments or in config, not both"
            )
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if fallback_function is not None and not callable(fallback_function):
            raise ValueError(f"fallback_function must be callable, got {fallback_function!r}")
        self._name: str = name or f"breaker-{next(_names)}"
        self._messages = {
            state.value: f"circuit breaker {self._name!r} is {state.value}" for state in CircuitState
        }
        self.fallback_function = fallback_function
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._listeners: list[BreakerListener] = list(listeners)
        self._call_hooks: list[CallHook] = []
        self._outbox: list[StateTransition] = []
        self._state = _CLOSED
        self._epoch = 0
        self._trips = 0
        self._open_until = 0.0
        self._half_open_since = 0.0
        self._last_failure_time: float | None = None
        self._probes_issued = 0
        self._window = self._new_window()
        self._probe_window: Window = self._window
        self._fast_ok = False
        self._fast_epoch = _NO_RECORD
        self._dirty = False
        self._refresh_fast_path()

    # -- reading -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Names the breaker in errors, logs, events and metrics."""
        return self._name

    @property
    def config(self) -> BreakerConfig:
        return self._config

    @property
    def failure_threshold(self) -> int:
        """The seed's name for ``config.failure_threshold``."""
        return self._config.failure_threshold

    @property
    def recovery_timeout(self) -> float:
        """The seed's name for ``config.wait_duration_in_open_state``."""
        return self._config.wait_duration_in_open_state

    @property
    def state(self) -> CircuitState:
        """The current state, after applying any move that time has made due (OPEN → HALF_OPEN)."""
        with self._lock:
            state = self._tick(self._clock.monotonic())
        self._flush()
        return state

    @property
    def retry_after(self) -> float:
        """Seconds until a call may be admitted: the rest of the open duration, else 0.

        ``FORCED_OPEN`` has no end; it reports ``wait_duration_in_open_state`` as a hint.
        """
        with self._lock:
            now = self._clock.monotonic()
            state = self._tick(now)
            result = self._retry_after(state, now)
        self._flush()
        return result

    @property
    def failure_count(self) -> int:
        """Bad calls in the current window (in a row, for the consecutive model)."""
        with self._lock:
            self._window.advance(self._clock.monotonic())
            return self._window.failures

    @property
    def last_failure_time(self) -> float | None:
        """The clock's monotonic reading at the last recorded failure; ``None`` if there was none."""
        return self._last_failure_time

    def get_state(self) -> dict[str, Any]:
        """A JSON-able picture: at least ``state`` (its string value), ``failure_count`` and
        ``last_failure_time`` (as in the seed), plus window totals and timing."""
        with self._lock:
            now = self._clock.monotonic()
            state = self._tick(now)
            self._window.advance(now)
            totals = snapshot(self._window)
            result = {
                "name": self.name,
                "state": state.value,
                "failure_count": totals.failures,
                "last_failure_time": self._last_failure_time,
                "calls": totals.calls,
                "slow_calls": totals.slow_calls,
                "sliding_window_type": self._config.sliding_window_type.value,
                "consecutive_trips": self._trips,
                "retry_after": self._retry_after(state, now),
            }
        self._flush()
        return result

    def snapshot(self) -> Snapshot:
        """The closed-state window's totals, frozen."""
        with self._lock:
            self._window.advance(self._clock.monotonic())
            return snapshot(self._window)

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} {self._state.value}>"

    # -- manual control ----------------------------------------------------------------------

    def reset(self) -> None:
        """Back to ``CLOSED`` with empty counters and no backoff, from any state."""
        with self._lock:
            self._trips = 0
            self._last_failure_time = None
            if self._state is _CLOSED:
                self._epoch += 1
                self._window = self._new_window()
                self._refresh_fast_path()
            else:
                self._move(_CLOSED, self._clock.monotonic(), "reset", manual=True)
        self._flush()

    def force_open(self) -> None:
        """Reject every call until :meth:`reset` (e.g. during maintenance of the upstream)."""
        self._manual(_FORCED_OPEN, "forced open")

    def disable(self) -> None:
        """Admit every call and record nothing until :meth:`reset` (forced closed)."""
        self._manual(_DISABLED, "disabled")

    def force_closed(self) -> None:
        """Another name for :meth:`disable`."""
        self.disable()

    def metrics_only(self) -> None:
        """Admit every call and record outcomes, but never trip, until :meth:`reset`."""
        self._manual(_METRICS_ONLY, "metrics only")

    def add_listener(self, listener: BreakerListener) -> None:
        """Call ``listener`` with every :class:`StateTransition`; a failing listener is logged."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def add_call_hook(self, hook: CallHook) -> None:
        """Call ``hook`` with every call's :class:`CallEvent` (costs the lock-free success path)."""
        with self._lock:
            self._call_hooks = [*self._call_hooks, hook]
            self._refresh_fast_path()

    # -- calling -----------------------------------------------------------------------------

    @overload
    def __call__(self, func: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate ``func``; coroutine functions get an async wrapper (decided here, once).

        Both wrappers inline the lock-free closed-state success path and hand everything else
        to the full path.
        """
        breaker = self
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                epoch = breaker._fast_epoch
                if epoch < 0:
                    return await breaker._acall(func, args, kwargs)
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    fallback = breaker._failed(exc, epoch, 0.0)
                    if fallback is None:
                        raise
                    return await _resolve(fallback(*args, **kwargs))
                if breaker._dirty:  # the run of failures is not empty: this success resets it
                    breaker._succeeded(result, epoch, 0.0)
                return result

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            epoch = breaker._fast_epoch
            if epoch < 0:
                return breaker._call(func, args, kwargs)
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                fallback = breaker._failed(exc, epoch, 0.0)
                if fallback is None:
                    raise
                return fallback(*args, **kwargs)
            if breaker._dirty:  # the run of failures is not empty: this success resets it
                breaker._succeeded(result, epoch, 0.0)
            return result

        return wrapper

    def call(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a plain function through the breaker (use :meth:`acall` for coroutine functions)."""
        return cast(R, self._call(func, args, kwargs))

    async def acall(self, func: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """Await a coroutine function through the breaker."""
        return cast(R, await self._acall(func, args, kwargs))

    def _call(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not CONFIG.active:
            return func(*args, **kwargs)
        if self.fallback_function is None:  # no catch-and-reraise on the rejection hot path
            epoch = self._acquire()
        else:
            try:
                epoch = self._acquire()
            except CircuitBreakerError:
                return self.fallback_function(*args, **kwargs)
        start = self._clock.monotonic() if self._config.slow_call_duration_threshold is not None else 0.0
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            fallback = self._failed(exc, epoch, start)
            if fallback is None:
                raise
            return fallback(*args, **kwargs)
        self._succeeded(result, epoch, start)
        return result

    async def _acall(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not CONFIG.active:
            return await func(*args, **kwargs)
        try:
            epoch = self._acquire()
        except CircuitBreakerError:
            if self.fallback_function is None:
                raise
            return await _resolve(self.fallback_function(*args, **kwargs))
        start = self._clock.monotonic() if self._config.slow_call_duration_threshold is not None else 0.0
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            fallback = self._failed(exc, epoch, start)
            if fallback is None:
                raise
            return await _resolve(fallback(*args, **kwargs))
        self._succeeded(result, epoch, start)
        return result

    # -- bookkeeping (each method holds the lock only for attribute updates) -----------------

    def _acquire(self) -> int:
        """Admit a call and return its permit (the epoch it was admitted in), or raise the rejection.

        Closed and metrics-only admit without the lock. Reading the epoch before the state is what
        makes that safe: the permit is honoured only if the epoch is still current when the
        outcome arrives, which means no transition happened since, so the state read was that
        epoch's. No local variable holds the raised error: that would make a reference cycle through
        the traceback and leave every rejection to the garbage collector.
        """
        epoch = self._epoch
        state = self._state
        if state is _CLOSED or state is _METRICS_ONLY:
            return epoch
        if state is _DISABLED:
            return _NO_RECORD
        if state is _OPEN:
            # Lock-free rejection: ``_move`` writes ``_open_until`` before ``_state``, so the
            # deadline read here is at least as new as the OPEN we saw.
            now = self._clock.monotonic()
            until = self._open_until
            if now < until:
                raise self._reject(_OPEN, until - now)
        elif state is _FORCED_OPEN:
            raise self._reject(_FORCED_OPEN, self._config.wait_duration_in_open_state)
        return self._acquire_locked()

    def _acquire_locked(self) -> int:
        permit = _REJECTED
        retry_after = 0.0
        lock = self._lock
        lock.acquire()  # explicit acquire/release: `with` costs twice as much on the hot paths
        try:
            now = self._clock.monotonic()
            state = self._tick(now)
            if state is _CLOSED or state is _METRICS_ONLY:
                permit = self._epoch
            elif state is _DISABLED:
                permit = _NO_RECORD
            elif (
                state is _HALF_OPEN
                and self._probes_issued < self._config.permitted_number_of_calls_in_half_open_state
            ):
                self._probes_issued += 1
                permit = self._epoch
            else:
                retry_after = self._retry_after(state, now)
        finally:
            lock.release()
        if self._outbox:
            self._flush()
        if permit == _REJECTED:
            raise self._reject(state, retry_after)
        return permit

    def _reject(self, state: CircuitState, retry_after: float) -> CircuitBreakerError:
        """Build the rejection with the attributes ``CircuitBreakerError(name=, state=, retry_after=)``
        sets, at a third of the cost: rejecting is the hot path of an open breaker, and the
        exception's ``__init__`` chain and float formatting cost more than the rest of it. So the
        message is precomputed per state and leaves the number to ``retry_after``;
        ``BaseException.__new__`` stores ``args``. A test pins the attributes to the constructor's.
        """
        if self._call_hooks:
            self._emit_call(CallEvent(self._name, CallOutcome.REJECTED, None))
        value = state._value_
        message = self._messages[value]  # keyed by the str value: an Enum member hashes in Python
        error = CircuitBreakerError.__new__(CircuitBreakerError, message)
        error.__dict__ = {
            "message": message,
            "context": {"name": self._name, "state": value, "retry_after": retry_after},
            "name": self._name,
            "state": value,
            "retry_after": retry_after,
        }
        return error

    def _failed(self, exc: BaseException, epoch: int, start: float) -> Callable[..., Any] | None:
        """Record a raised exception; return the fallback to use instead of re-raising, if any."""
        if not CONFIG.active:
            return None
        config = self._config
        if not isinstance(exc, Exception):
            self._release(epoch)
            return None
        if isinstance(exc, config.ignore_exceptions):
            self._release(epoch)
        else:
            self._record(
                epoch, not config.record_exceptions or isinstance(exc, config.record_exceptions), start
            )
        return self.fallback_function

    def _succeeded(self, result: object, epoch: int, start: float) -> None:
        predicate = self._config.record_result
        failed = False
        if predicate is not None:
            try:
                failed = bool(predicate(result))
            except Exception:
                logger.exception("record_result of breaker %r raised; counting the call as failed", self.name)
                failed = True
        if failed or epoch != self._fast_epoch or self._dirty or self._call_hooks:
            self._record(epoch, failed, start)

    def _release(self, epoch: int) -> None:
        """An ignored outcome: neither success nor failure, but a half-open probe slot is freed."""
        with self._lock:
            if epoch == self._epoch and self._state is _HALF_OPEN:
                self._probes_issued -= 1
        if self._call_hooks:
            self._emit_call(CallEvent(self.name, CallOutcome.IGNORED, None))

    def _record(self, epoch: int, failed: bool, start: float) -> None:
        config = self._config
        now = self._clock.monotonic()
        threshold = config.slow_call_duration_threshold
        slow = threshold is not None and now - start >= threshold
        if epoch != _NO_RECORD:
            lock = self._lock
            lock.acquire()
            try:
                state = self._state
                if state is _HALF_OPEN:
                    state = self._tick(now)  # a probe finishing after the half-open limit finds it re-opened
                if epoch != self._epoch:
                    pass  # admitted in an earlier state: not this state's business
                elif state is _CLOSED and config.sliding_window_type is _CONSECUTIVE:
                    # The hot failure path, inlined: for this model evaluate() is one comparison.
                    if failed:
                        self._last_failure_time = now
                    window = self._window
                    window.record(failed, slow, now)
                    if window.failures >= config.failure_threshold:
                        self._move(_OPEN, now, _TRIPPED.value)
                    else:
                        self._dirty = window.failures > 0
                else:
                    self._apply(failed, slow, now)
            finally:
                lock.release()
            if self._outbox:
                self._flush()
        if self._call_hooks:
            duration = now - start if threshold is not None else None
            self._emit_call(CallEvent(self.name, _OUTCOMES[failed, slow], duration))

    def _apply(self, failed: bool, slow: bool, now: float) -> None:
        """Add one outcome admitted in the current epoch and act on the verdict. Lock held."""
        if failed:
            self._last_failure_time = now
        state = self._state
        config = self._config
        if state is _HALF_OPEN:
            probes = self._probe_window
            probes.record(failed, slow, now)
            verdict = evaluate(probes, config, half_open=True)
            if verdict not in _CALM:
                self._move(_OPEN, now, f"probe {verdict.value}")
            elif probes.calls >= config.permitted_number_of_calls_in_half_open_state:
                self._move(_CLOSED, now, "probes succeeded")
        elif state is _CLOSED or state is _METRICS_ONLY:
            window = self._window
            window.record(failed, slow, now)
            if state is _CLOSED:
                verdict = evaluate(window, config)
                if verdict not in _CALM:
                    self._move(_OPEN, now, verdict.value)
                else:
                    self._dirty = window.failures > 0

    def _tick(self, now: float) -> CircuitState:
        """Apply the moves time has made due. Lock held."""
        state = self._state
        if state is _OPEN and now >= self._open_until:
            self._move(_HALF_OPEN, now, "open duration elapsed")
        elif state is _HALF_OPEN:
            limit = self._config.max_wait_duration_in_half_open_state
            if limit is not None and now - self._half_open_since >= limit:
                self._move(_OPEN, now, "max wait in half-open elapsed")
        return self._state

    def _retry_after(self, state: CircuitState, now: float) -> float:
        if state is _OPEN:
            return max(self._open_until - now, 0.0)
        if state is _FORCED_OPEN:
            return self._config.wait_duration_in_open_state
        return 0.0

    def _manual(self, target: CircuitState, reason: str) -> None:
        with self._lock:
            if self._state is not target:
                self._move(target, self._clock.monotonic(), reason, manual=True)
        self._flush()

    def _move(self, target: CircuitState, now: float, reason: str, *, manual: bool = False) -> None:
        """Swap state with fresh per-state counters and queue the event. Lock held."""
        source = self._state
        allowed = target in MANUAL_TARGETS if manual else target in AUTOMATIC_TRANSITIONS[source]
        if not allowed or source is target:
            raise RuntimeError(f"breaker {self.name!r}: illegal transition {source.value} -> {target.value}")
        config = self._config
        retry_after = 0.0
        if target is _OPEN:
            # Written before ``_state``: the lock-free rejection in ``_acquire`` relies on it.
            self._trips += 1
            duration = config.wait_duration_in_open_state * config.wait_duration_multiplier ** (
                self._trips - 1
            )
            cap = config.max_wait_duration_in_open_state
            retry_after = duration if cap is None else min(duration, cap)
            self._open_until = now + retry_after
        self._state = target
        self._epoch += 1
        if target is _HALF_OPEN:
            self._half_open_since = now
            self._probes_issued = 0
            self._probe_window = CountWindow(config.permitted_number_of_calls_in_half_open_state)
        elif target is _CLOSED or target is _METRICS_ONLY:
            if source is _HALF_OPEN:
                self._trips = 0
            self._window = self._new_window()
        self._refresh_fast_path()
        self._outbox.append(StateTransition(self.name, source, target, reason, manual, now, retry_after))

    def _new_window(self) -> Window:
        config = self._config
        kind = config.sliding_window_type
        if kind is SlidingWindowType.COUNT_BASED:
            return CountWindow(config.sliding_window_size)
        if kind is SlidingWindowType.TIME_BASED:
            return TimeWindow(config.sliding_window_size, self._clock.monotonic())
        return ConsecutiveWindow()

    def _refresh_fast_path(self) -> None:
        """Open the lock-free path (closed or disabled, consecutive model, nothing timed, no result
        predicate, no call hooks): a success there needs recording only when ``_dirty`` (a run of
        failures to reset); failures go straight to ``_failed``. Lock held."""
        config = self._config
        self._fast_ok = (
            config.sliding_window_type is SlidingWindowType.CONSECUTIVE
            and config.slow_call_duration_threshold is None
            and config.record_result is None
            and not self._call_hooks
        )
        state = self._state
        fast = self._fast_ok and (state is _CLOSED or state is _DISABLED)
        self._fast_epoch = self._epoch if fast else _NO_RECORD
        self._dirty = state is _CLOSED and self._window.failures > 0

    # -- announcing --------------------------------------------------------------------------

    def _flush(self) -> None:
        """Deliver queued transitions to the log and the listeners, outside the lock."""
        if not self._outbox:
            return
        with self._lock:
            events, self._outbox = self._outbox, []
        for event in events:
            level = logging.WARNING if event.to_state in (_OPEN, _FORCED_OPEN) else logging.INFO
            logger.log(
                level,
                "circuit breaker %r: %s -> %s (%s)",
                event.breaker,
                event.from_state.value,
                event.to_state.value,
                event.reason,
            )
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:
                    logger.exception("listener %r of circuit breaker %r failed", listener, self.name)

    def _emit_call(self, event: CallEvent) -> None:
        for hook in self._call_hooks:
            try:
                hook(event)
            except Exception:
                logger.exception("call hook %r of circuit breaker %r failed", hook, self.name)
