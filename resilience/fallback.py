"""Fallbacks: what to serve when the live call fails, marked so callers know the data is degraded.

- Strategies: :class:`DefaultValueFallback`, :class:`CachedDataFallback` (a provider function),
  :class:`LastKnownGoodFallback` (the last successful result per call key, with a TTL and a bounded
  size) and :class:`ChainedFallback` (first that works; an ``ExceptionGroup`` of every error if none).
- :func:`with_fallback` applies one to a plain or ``async def`` function, only for the failures it
  is configured for: programming errors (``TypeError``, ``AttributeError``, ``NameError``, ...) are
  re-raised, not hidden, unless asked.
- Served values are marked: :func:`is_fallback` / :func:`fallback_info` test a result (a dict comes
  back as a :class:`DegradedDict`, still a ``dict``), and :func:`collect_fallbacks` records every
  activation in the current context, for values that cannot carry a mark (``None``, numbers,
  strings, tuples) and for a web gateway that must tell its client "degraded".
- :class:`Toggles` (global :data:`TOGGLES`): force the fallback of a service or disable a feature
  at run time, from code, a mapping or environment variables.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import copy
import functools
import inspect
import logging
import math
import os
import threading
import weakref
from collections.abc import Callable, Coroutine, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from resilience._clock import MONOTONIC, Clock
from resilience.errors import CircuitBreakerError
from resilience.retry import is_async_callable

__all__ = [
    "PROGRAMMING_ERRORS",
    "TOGGLES",
    "CachedDataFallback",
    "ChainedFallback",
    "DefaultValueFallback",
    "DegradedDict",
    "DegradedList",
    "FallbackChainError",
    "FallbackInfo",
    "FallbackListener",
    "FallbackStatistics",
    "FallbackStrategy",
    "LastKnownGoodFallback",
    "NoFallbackValueError",
    "Toggles",
    "all_statistics",
    "collect_fallbacks",
    "fallback_info",
    "is_fallback",
    "with_fallback",
]

P = ParamSpec("P")
T = TypeVar("T")

logger = logging.getLogger("resilience.fallback")

PROGRAMMING_ERRORS: tuple[type[BaseException], ...] = (
    TypeError,
    AttributeError,
    NameError,
    AssertionError,
    NotImplementedError,
    ImportError,
    SyntaxError,
)
"""Bugs, not outages: :func:`with_fallback` re-raises them unless ``ignore=`` says otherwise."""

_MARK = "__resilience_fallback__"


# --- marking ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FallbackInfo:
    """Why a value is a fallback: the protected call, the reason, the strategy that produced it.

    ``reason`` is ``"error"``, ``"circuit_open"`` (the live call was refused by a breaker),
    ``"forced"`` (an operator forced the fallback) or ``"feature_disabled"``; ``error`` is the live
    call's exception (``None`` when it was not attempted).
    """

    name: str
    reason: str
    strategy: str
    error: BaseException | None = None


class DegradedDict(dict[Any, Any]):
    """A ``dict`` served by a fallback: equal to, and serialised as, the plain dict; ``.fallback``
    holds the :class:`FallbackInfo`."""

    __slots__ = ("fallback",)
    fallback: FallbackInfo


class DegradedList(list[Any]):
    """A ``list`` served by a fallback; ``.fallback`` holds the :class:`FallbackInfo`."""

    __slots__ = ("fallback",)
    fallback: FallbackInfo


def _mark(value: Any, info: FallbackInfo) -> Any:
    """Return ``value`` marked as a fallback, never mutating the original (it may be cached).

    Dicts and lists become :class:`DegradedDict`/:class:`DegradedList` (shallow copies); objects
    with a ``__dict__`` get a shallow copy carrying ``__resilience_fallback__``; anything else
    (``None``, numbers, strings, tuples, slotted objects) is returned unmarked: use
    :func:`collect_fallbacks` for those.
    """
    marked: Any
    if isinstance(value, dict):
        marked = DegradedDict(value)
    elif isinstance(value, list):
        marked = DegradedList(value)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        try:
            marked = copy.copy(value)
            object.__setattr__(marked, _MARK, info)
        except Exception:  # an object that refuses copies or attributes stays unmarked
            return value
        return marked
    else:
        return value
    marked.fallback = info
    return marked


def fallback_info(value: object) -> FallbackInfo | None:
    """The :class:`FallbackInfo` of a value served by a fallback, or ``None`` for live data."""
    if isinstance(value, DegradedDict | DegradedList):
        return value.fallback
    info = getattr(value, _MARK, None)
    return info if isinstance(info, FallbackInfo) else None


def is_fallback(value: object) -> bool:
    """Whether ``value`` was served by a fallback (see :func:`fallback_info` for why)."""
    return fallback_info(value) is not None


_ACTIVATIONS: contextvars.ContextVar[list[FallbackInfo] | None] = contextvars.ContextVar(
    "resilience_fallback_activations", default=None
)


@contextlib.contextmanager
def collect_fallbacks() -> Iterator[list[FallbackInfo]]:
    """Record every fallback activation in this context (and tasks started from it)::

        with collect_fallbacks() as served:
            body = get_weather("Paris")
        if served:
            response.headers["X-Degraded"] = ",".join(info.name for info in served)

    Works for any return type, including ones :func:`is_fallback` cannot mark. Scopes nest; an
    activation is recorded in the innermost one only.
    """
    served: list[FallbackInfo] = []
    token = _ACTIVATIONS.set(served)
    try:
        yield served
    finally:
        _ACTIVATIONS.reset(token)


# --- strategies ------------------------------------------------------------------------------------


class FallbackStrategy:
    """Base class: :meth:`execute` gets the failed call's arguments and returns the substitute.

    Override :meth:`aexecute` for a natively async strategy (the default calls :meth:`execute` and
    awaits its result if it is awaitable), and :meth:`remember` to learn from live successes.
    """

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Return the fallback value, or raise if this strategy has none."""
        raise NotImplementedError("Fallback strategy must implement execute method")

    async def aexecute(self, *args: Any, **kwargs: Any) -> Any:
        result = self.execute(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    def remember(self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Called with every live success; the default ignores it."""

    def serve(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, str]:
        """``execute`` plus the name of the strategy that produced the value (chains name a member)."""
        return self.execute(*args, **kwargs), type(self).__name__

    async def aserve(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, str]:
        return await self.aexecute(*args, **kwargs), type(self).__name__


class CachedDataFallback(FallbackStrategy):
    """Returns whatever ``cache_provider()`` returns (called without arguments; may be async)."""

    def __init__(self, cache_provider: Callable[[], Any]) -> None:
        if not callable(cache_provider):
            raise TypeError(f"cache_provider must be callable, got {cache_provider!r}")
        self.cache_provider = cache_provider

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self.cache_provider()


class DefaultValueFallback(FallbackStrategy):
    """Returns ``default_value`` (dicts and lists come back as marked shallow copies)."""

    def __init__(self, default_value: Any) -> None:
        self.default_value = default_value

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self.default_value


class NoFallbackValueError(LookupError):
    """A :class:`LastKnownGoodFallback` has no fresh value for this call."""


def default_key(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Hashable:
    """The call key of :class:`LastKnownGoodFallback`: positional and keyword arguments, by value
    when hashable, else by ``repr``."""
    key = (args, tuple(sorted(kwargs.items())))
    try:
        hash(key)
    except TypeError:
        return repr(key)
    return key


class LastKnownGoodFallback(FallbackStrategy):
    """Serves the last successful result of the same call (same arguments) if it is fresh.

    Results are remembered per call key (``key(*args, **kwargs)``, default: the arguments) for
    ``ttl`` seconds (default 300), at most ``max_size`` keys (default 1024, least recently stored
    evicted first). Thread-safe. Stored objects are not copied: do not mutate live results.
    A miss raises :class:`NoFallbackValueError`, so put it first in a :class:`ChainedFallback`
    before a default.
    """

    def __init__(
        self,
        ttl: float = 300.0,
        max_size: int = 1024,
        *,
        key: Callable[..., Hashable] | None = None,
        clock: Clock = MONOTONIC,
    ) -> None:
        if not (isinstance(ttl, int | float) and math.isfinite(ttl) and ttl > 0):
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"max_size must be an integer >= 1, got {max_size!r}")
        self.ttl = float(ttl)
        self.max_size = max_size
        self._key = key
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[Hashable, tuple[float, Any]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _call_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        return default_key(args, kwargs) if self._key is None else self._key(*args, **kwargs)

    def remember(self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        key = self._call_key(args, kwargs)
        now = self._clock.monotonic()
        with self._lock:
            self._entries[key] = (now, result)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def age(self, *args: Any, **kwargs: Any) -> float | None:
        """Seconds since the value for this call was stored, or ``None`` if there is none."""
        with self._lock:
            entry = self._entries.get(self._call_key(args, kwargs))
        return None if entry is None else self._clock.monotonic() - entry[0]

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        key = self._call_key(args, kwargs)
        now = self._clock.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] > self.ttl:
                del self._entries[key]
                entry = None
        if entry is None:
            raise NoFallbackValueError(f"no last-known-good value younger than {self.ttl:g}s for {key!r}")
        return entry[1]


class FallbackChainError(ExceptionGroup[Exception]):
    """Every strategy of a :class:`ChainedFallback` failed; ``exceptions`` holds each one's error."""


class ChainedFallback(FallbackStrategy):
    """Tries each strategy in order and returns the first value obtained.

    If all fail, raises :class:`FallbackChainError` (an ``ExceptionGroup``) with every error in order,
    not only the last. Live successes are passed to every member's :meth:`remember`.
    """

    def __init__(self, strategies: Sequence[FallbackStrategy]) -> None:
        strategies = list(strategies)
        if not strategies:
            raise ValueError("ChainedFallback needs at least one strategy")
        for strategy in strategies:
            if not isinstance(strategy, FallbackStrategy):
                raise TypeError(f"ChainedFallback members must be FallbackStrategy, got {strategy!r}")
        self.strategies = strategies

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self.serve(args, kwargs)[0]

    async def aexecute(self, *args: Any, **kwargs: Any) -> Any:
        return (await self.aserve(args, kwargs))[0]

    def remember(self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for strategy in self.strategies:
            strategy.remember(result, args, kwargs)

    def serve(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, str]:
        errors: list[Exception] = []
        for strategy in self.strategies:
            try:
                return strategy.serve(args, kwargs)
            except Exception as error:
                errors.append(error)
        raise self._failed(errors)

    async def aserve(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, str]:
        errors: list[Exception] = []
        for strategy in self.strategies:
            try:
                return await strategy.aserve(args, kwargs)
            except Exception as error:
                errors.append(error)
        raise self._failed(errors)

    def _failed(self, errors: list[Exception]) -> FallbackChainError:
        return FallbackChainError(f"all {len(errors)} fallback strategies failed", errors)


# --- toggles ---------------------------------------------------------------------------------------


class Toggles:
    """Run-time degradation switches: force a service's fallback, disable a feature.

    A forced name makes :func:`with_fallback` (``name=``) serve its fallback without calling the live
    function; a disabled feature does the same for every ``with_fallback(feature=...)`` naming it,
    and application code can ask :meth:`is_enabled`. Reads are lock-free (the sets are replaced, never
    mutated), so checks cost nothing on the hot path.

    From configuration: :meth:`configure` takes ``{"force_fallback": [...], "disabled_features":
    [...]}``; :meth:`configure_from_env` reads ``RESILIENCE_FORCE_FALLBACK`` and
    ``RESILIENCE_DISABLED_FEATURES`` (comma-separated names).
    """

    __slots__ = ("_disabled", "_forced", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forced: frozenset[str] = frozenset()
        self._disabled: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"Toggles(force_fallback={sorted(self._forced)}, disabled_features={sorted(self._disabled)})"

    def force_fallback(self, name: str, forced: bool = True) -> None:
        """Serve ``name``'s fallback without calling it (``forced=False`` restores live calls)."""
        with self._lock:
            self._forced = self._forced | {name} if forced else self._forced - {name}
        logger.warning("fallback for %r %s", name, "forced" if forced else "no longer forced")

    def disable(self, feature: str) -> None:
        with self._lock:
            self._disabled = self._disabled | {feature}
        logger.warning("feature %r disabled", feature)

    def enable(self, feature: str) -> None:
        with self._lock:
            self._disabled = self._disabled - {feature}
        logger.warning("feature %r enabled", feature)

    def is_forced(self, name: str) -> bool:
        return name in self._forced

    def is_enabled(self, feature: str) -> bool:
        return feature not in self._disabled

    def reason(self, name: str, feature: str | None) -> str | None:
        """Why a call must skip its live path: ``"forced"``, ``"feature_disabled"`` or ``None``."""
        if name in self._forced:
            return "forced"
        if feature is not None and feature in self._disabled:
            return "feature_disabled"
        return None

    def snapshot(self) -> dict[str, list[str]]:
        """The current switches, in the shape :meth:`configure` accepts (for an admin endpoint)."""
        return {"force_fallback": sorted(self._forced), "disabled_features": sorted(self._disabled)}

    def configure(self, mapping: Mapping[str, Any], *, where: str = "toggles") -> None:
        """Replace every switch from a mapping; unknown keys or non-list values raise ``ValueError``
        naming ``where`` and the key."""
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {type(mapping).__name__}")
        unknown = set(mapping) - {"force_fallback", "disabled_features"}
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s) {sorted(unknown)}; expected 'force_fallback', 'disabled_features'"
            )
        values: dict[str, frozenset[str]] = {}
        for key in ("force_fallback", "disabled_features"):
            names = mapping.get(key, [])
            if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names):
                raise ValueError(f"{where}.{key}: expected a list of names, got {names!r}")
            values[key] = frozenset(names)
        with self._lock:
            self._forced = values["force_fallback"]
            self._disabled = values["disabled_features"]
        logger.warning("degradation switches set: %s", self.snapshot())

    def configure_from_env(self, environ: Mapping[str, str] | None = None) -> None:
        """Apply ``RESILIENCE_FORCE_FALLBACK`` / ``RESILIENCE_DISABLED_FEATURES`` (comma-separated)."""
        env = os.environ if environ is None else environ

        def names(variable: str) -> list[str]:
            return [part.strip() for part in env.get(variable, "").split(",") if part.strip()]

        self.configure(
            {
                "force_fallback": names("RESILIENCE_FORCE_FALLBACK"),
                "disabled_features": names("RESILIENCE_DISABLED_FEATURES"),
            },
            where="environment",
        )


TOGGLES = Toggles()
"""The process-wide switches :func:`with_fallback` consults unless given its own."""


# --- the decorator ---------------------------------------------------------------------------------


FallbackListener = Callable[[FallbackInfo], None]
"""Called with each activation's :class:`FallbackInfo`; its exceptions are logged and ignored."""


class FallbackStatistics:
    """Counters of one protected function (lock-free, best effort under heavy threading)."""

    __slots__ = ("__weakref__", "activations", "calls", "failures", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        """Calls made."""
        self.activations: dict[str, int] = {}
        """Fallbacks served, by reason (``error``, ``circuit_open``, ``forced``, ``feature_disabled``)."""
        self.failures = 0
        """Activations whose fallback failed too (the caller got an error)."""
        _ALL_STATISTICS.add(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "calls": self.calls,
            "activations": dict(self.activations),
            "failures": self.failures,
        }

    def __repr__(self) -> str:
        return f"FallbackStatistics({self.as_dict()!r})"


_ALL_STATISTICS: weakref.WeakSet[FallbackStatistics] = weakref.WeakSet()


def all_statistics() -> list[FallbackStatistics]:
    """Every live :class:`FallbackStatistics` (what the Prometheus collector exports)."""
    return list(_ALL_STATISTICS)


ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...] | list[type[BaseException]]


def _exception_tuple(value: object, label: str) -> tuple[type[BaseException], ...]:
    items = tuple(value) if isinstance(value, tuple | list) else (value,)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(f"{label} must be an exception class or a tuple/list of them; got {item!r}")
    return items


class _Activation:
    """What :func:`with_fallback` does once the live path is skipped or failed (sync and async)."""

    __slots__ = ("listeners", "name", "stats", "strategy")

    def __init__(
        self, name: str, strategy: FallbackStrategy, stats: FallbackStatistics, listeners: tuple[Any, ...]
    ) -> None:
        self.name = name
        self.strategy = strategy
        self.stats = stats
        self.listeners = listeners

    def begin(self, reason: str, error: BaseException | None) -> str:
        if isinstance(error, CircuitBreakerError):
            reason = "circuit_open"
        self.stats.activations[reason] = self.stats.activations.get(reason, 0) + 1
        return reason

    def failed(self, reason: str, error: BaseException | None, fallback_error: Exception) -> None:
        self.stats.failures += 1
        logger.error(
            "%s: fallback failed (%s) after %s: %r",
            self.name,
            reason,
            "no live call" if error is None else repr(error),
            fallback_error,
            extra={"fallback_name": self.name, "reason": reason},
        )

    def served(self, reason: str, error: BaseException | None, value: Any, label: str) -> Any:
        info = FallbackInfo(self.name, reason, label, error)
        logger.warning(
            "%s: serving fallback from %s (%s%s)",
            self.name,
            label,
            reason,
            "" if error is None else f": {error!r}",
            extra={"fallback_name": self.name, "reason": reason, "strategy": label},
        )
        served = _ACTIVATIONS.get()
        if served is not None:
            served.append(info)
        for listener in self.listeners:
            try:
                listener(info)
            except Exception:
                logger.exception("fallback listener %r failed", listener)
        return _mark(value, info)


def with_fallback(
    fallback_strategy: FallbackStrategy,
    *,
    on: ExceptionTypes = Exception,
    ignore: ExceptionTypes = PROGRAMMING_ERRORS,
    name: str | None = None,
    feature: str | None = None,
    toggles: Toggles = TOGGLES,
    listeners: Iterable[FallbackListener] = (),
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator: serve ``fallback_strategy``'s value when the function fails (sync or async).

    Only errors that are instances of ``on`` (default ``Exception``) activate the fallback, except
    those in ``ignore`` (default :data:`PROGRAMMING_ERRORS`), which are bugs and re-raised; a class
    named in ``on`` is always caught even if ``ignore`` covers it (``on=KeyError`` catches KeyError).
    Pass ``ignore=()`` to hide everything. ``BaseException`` outside ``Exception``
    (``KeyboardInterrupt``, ``CancelledError``) always propagates.

    The value is marked (:func:`is_fallback`) and recorded for :func:`collect_fallbacks`. If the
    fallback fails too, its error is raised with the live error as ``__cause__``. ``name`` (default:
    the function's qualified name) labels logs and metrics and is what :meth:`Toggles.force_fallback`
    matches; ``feature`` ties the call to a feature switch. Live successes are passed to the
    strategy's ``remember`` (what feeds :class:`LastKnownGoodFallback`). The decorated function gets
    ``fallback_statistics``.
    """
    if not isinstance(fallback_strategy, FallbackStrategy):
        raise TypeError(f"with_fallback needs a FallbackStrategy, got {fallback_strategy!r}")
    catch = _exception_tuple(on, "on")
    skip = _exception_tuple(ignore, "ignore")
    rescued = tuple(cls for cls in catch if issubclass(cls, skip)) if skip else ()
    listeners = tuple(listeners)
    strategy = fallback_strategy

    def decorator(func: Callable[P, T]) -> Callable[P, T]:
        label = name or f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', func)}"
        stats = FallbackStatistics(label)
        activation = _Activation(label, strategy, stats, listeners)

        def live_error(exc: BaseException) -> bool:
            return not (skip and isinstance(exc, skip) and not (rescued and isinstance(exc, rescued)))

        if is_async_callable(func, "with_fallback"):
            afunc = cast(Callable[P, Coroutine[Any, Any, Any]], func)

            async def fallback_acall(*args: P.args, **kwargs: P.kwargs) -> Any:
                stats.calls += 1
                reason = toggles.reason(label, feature)
                error: BaseException | None = None
                if reason is None:
                    try:
                        result = await afunc(*args, **kwargs)
                    except catch as exc:
                        if not live_error(exc):
                            raise
                        error, reason = exc, "error"
                    else:
                        strategy.remember(result, args, kwargs)
                        return result
                reason = activation.begin(reason, error)
                try:
                    value, used = await strategy.aserve(args, kwargs)
                except Exception as fallback_error:
                    activation.failed(reason, error, fallback_error)
                    raise fallback_error from error
                return activation.served(reason, error, value, used)

            wrapper = cast(Callable[P, T], functools.wraps(func)(fallback_acall))
        else:

            def fallback_call(*args: P.args, **kwargs: P.kwargs) -> T:
                stats.calls += 1
                reason = toggles.reason(label, feature)
                error: BaseException | None = None
                if reason is None:
                    try:
                        result = func(*args, **kwargs)
                    except catch as exc:
                        if not live_error(exc):
                            raise
                        error, reason = exc, "error"
                    else:
                        strategy.remember(result, args, kwargs)
                        return result
                reason = activation.begin(reason, error)
                try:
                    value, used = strategy.serve(args, kwargs)
                except Exception as fallback_error:
                    activation.failed(reason, error, fallback_error)
                    raise fallback_error from error
                return cast(T, activation.served(reason, error, value, used))

            wrapper = functools.wraps(func)(fallback_call)
        wrapper.fallback_statistics = stats  # type: ignore[attr-defined]
        return wrapper

    return decorator
