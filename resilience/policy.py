"""One resilience policy per upstream: fallback → retry → breaker → per-attempt timeout.

Order, outermost first, and why:

1. **fallback** sees the final outcome only (after every retry), so it never masks a failure that a
   retry would have fixed;
2. **retry** goes around the breaker, so an open breaker stops the retries at once
   (``CircuitBreakerError`` is not retried) and each attempt is counted by the breaker. When an
   attempt's failure is the one that opens the breaker, the policy raises ``CircuitBreakerError``
   (``__cause__``: that failure) right away, so the retry does not sleep only to be refused;
3. **breaker** records each attempt, timeouts included;
4. **timeout** bounds one attempt, so a slow attempt fails, is recorded and may be retried.

Per-attempt timeouts, honestly:

- ``async def`` functions are cancelled with :func:`asyncio.timeout` (real loop time) and fail with
  :class:`AttemptTimeoutError` (a ``TimeoutError``).
- Plain functions cannot be interrupted safely in Python, and running them in a thread to abandon it
  would leak the thread and its connection. So the sync policy is cooperative: it publishes the
  attempt's remaining time through :func:`current_timeout`, which you pass to your client
  (``httpx.get(url, timeout=current_timeout())``, a DB driver's statement timeout) so the I/O
  itself stops; and an attempt that still returns late is turned into an
  :class:`AttemptTimeoutError` (the late result is dropped), so breaker and retry see the same
  outcome as in async code.

Configuration (the seed's ConfigMap, extended; other top-level keys are left to other components)::

    {"defaults": {"retry": {"max_attempts": 3}},
     "services": {"weather-service": {
         "failure_threshold": 3, "recovery_timeout": 60,      # any BreakerConfig option
         "timeout": 2.0,                                      # seconds per attempt (null: none)
         "retry": {"max_attempts": 3, "base_delay": 0.5, "max_delay": 5, "backoff_factor": 2,
                   "jitter": "full", "timeout": 10, "on_circuit_open": "raise",
                   "retry_exceptions": ["ConnectionError", "httpx.TransportError"],
                   "budget": {"ratio": 0.2, "min_retries_per_second": 1, "capacity": 10}},
         "fallback": {"strategy": "last_known_good", "ttl": 300, "max_size": 1024,
                      "default": {"conditions": "unknown"}}}},
     "toggles": {"force_fallback": [], "disabled_features": []}}

``"retry": null`` (or ``false``) means one attempt. ``fallback.strategy`` is ``last_known_good``
(default; chained before ``default`` when a default is given), ``default`` or ``none``.

Environment overrides (applied before validation, so mistakes are reported the same way):
``RESILIENCE__<SERVICE>__<KEY>[__<SUBKEY>]=<value>``, the service name upper-cased with ``-`` and
``.`` as ``_`` (``DEFAULTS`` for the defaults section), the value parsed as JSON when it is JSON
(numbers, ``true``, ``null``, lists) and taken as a string otherwise::

    RESILIENCE__WEATHER_SERVICE__TIMEOUT=1.5
    RESILIENCE__WEATHER_SERVICE__RETRY__MAX_ATTEMPTS=5
    RESILIENCE__WEATHER_SERVICE__FALLBACK__STRATEGY=none

plus ``RESILIENCE_FORCE_FALLBACK`` / ``RESILIENCE_DISABLED_FEATURES`` (comma-separated) for the toggles.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import inspect
import json
import math
import os
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from resilience._clock import MONOTONIC, Clock
from resilience.breaker import BreakerConfig, CircuitBreaker, CircuitState
from resilience.budget import RetryBudget
from resilience.errors import CircuitBreakerError
from resilience.fallback import (
    PROGRAMMING_ERRORS,
    TOGGLES,
    ChainedFallback,
    DefaultValueFallback,
    ExceptionTypes,
    FallbackStrategy,
    LastKnownGoodFallback,
    Toggles,
    with_fallback,
)
from resilience.registry import BreakerRegistry, load_config_file
from resilience.retry import NonRetryableError, Retry, is_async_callable

__all__ = [
    "ENV_PREFIX",
    "AttemptTimeoutError",
    "Policy",
    "PolicyConfigError",
    "PolicyRegistry",
    "current_timeout",
]

P = ParamSpec("P")
T = TypeVar("T")

ENV_PREFIX = "RESILIENCE__"
"""Environment variables starting with this override the configuration (see the module docstring)."""

POLICY_KEYS = frozenset({"timeout", "retry", "fallback"})
"""Per-service keys that belong to the policy; every other key is a breaker option."""

_RETRY_KEYS = frozenset(
    {"max_attempts", "base_delay", "max_delay", "backoff_factor", "jitter", "timeout", "on_circuit_open",
     "retry_exceptions", "budget"}
)  # fmt: skip
_FALLBACK_KEYS = frozenset({"strategy", "ttl", "max_size", "default"})
_FALLBACK_STRATEGIES = ("last_known_good", "default", "none")


class PolicyConfigError(ValueError):
    """The policy configuration is unusable; the message starts with the dotted path of the key
    (``config.services.weather-service.retry: max_attempts must be ...``)."""


class AttemptTimeoutError(TimeoutError):
    """One attempt ran longer than the policy's per-attempt ``timeout``."""


_DEADLINE: contextvars.ContextVar[tuple[Clock, float] | None] = contextvars.ContextVar(
    "resilience_attempt_deadline", default=None
)


def current_timeout() -> float | None:
    """Seconds left for the current policy attempt (``None`` outside a policy with a timeout).

    Pass it to your client so the I/O stops on time: ``client.get(url, timeout=current_timeout())``.
    """
    deadline = _DEADLINE.get()
    if deadline is None:
        return None
    clock, until = deadline
    return max(0.0, until - clock.monotonic())


def _positive_seconds(value: object) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def _not_a_bug(error: BaseException) -> bool:
    """The policy's default retry filter: everything except programming errors."""
    return not isinstance(error, PROGRAMMING_ERRORS)


def _as_coroutine_function(func: Callable[P, T]) -> Callable[P, T]:
    @functools.wraps(func)
    async def awaited(*args: P.args, **kwargs: P.kwargs) -> Any:
        return await cast(Callable[P, Awaitable[Any]], func)(*args, **kwargs)

    return cast(Callable[P, T], awaited)


FallbackLike = FallbackStrategy | Callable[[], FallbackStrategy]
"""A strategy shared by every function the policy protects, or a factory called once per function
(what a last-known-good cache needs, so two functions never share call keys)."""


class Policy:
    """The resilience of one upstream, applied with one decorator to plain or ``async def`` functions.

    Args:
        name: the upstream's name (labels logs and metrics; what :class:`Toggles` matches).
        breaker: its :class:`CircuitBreaker` (default: a new one named ``name`` with the seed's
            defaults). Shared by every function the policy decorates; exposed as ``.breaker`` so a
            gateway can show it or force its state.
        retry: a :class:`Retry` with ``wrap=True`` (default: one attempt, no retry). Give-ups then
            raise ``RetryError``/``UpstreamTimeoutError``/``RetryBudgetExhaustedError``.
        timeout: seconds per attempt, or ``None`` (see the module docstring for sync functions).
        fallback: a :class:`FallbackStrategy`, a factory of one, or ``None``.
        fallback_on / fallback_ignore: which final errors the fallback handles (default: any
            ``Exception`` except programming errors and :class:`NonRetryableError`, e.g. a 404).
        feature: a feature switch name; when disabled, the fallback is served without a call.
        toggles: the run-time switches consulted (default: the global :data:`TOGGLES`).
        clock: the clock of the sync timeout check.
    """

    __slots__ = (
        "_fallback",
        "breaker",
        "clock",
        "fallback_ignore",
        "fallback_on",
        "feature",
        "name",
        "retry",
        "timeout",
        "toggles",
    )

    def __init__(
        self,
        name: str,
        *,
        breaker: CircuitBreaker | None = None,
        retry: Retry | None = None,
        timeout: float | None = None,
        fallback: FallbackLike | None = None,
        fallback_on: ExceptionTypes = Exception,
        fallback_ignore: ExceptionTypes = (*PROGRAMMING_ERRORS, NonRetryableError),
        feature: str | None = None,
        toggles: Toggles = TOGGLES,
        clock: Clock = MONOTONIC,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"policy name must be a non-empty string, got {name!r}")
        if timeout is not None and not _positive_seconds(timeout):
            raise ValueError(
                f"timeout must be a positive number of seconds per attempt or None, got {timeout!r}"
            )
        if retry is None:
            retry = Retry(max_attempts=1, retry_exceptions=_not_a_bug, wrap=True, name=name)
        elif not isinstance(retry, Retry):
            raise TypeError(f"retry must be a resilience.retry.Retry, got {retry!r}")
        elif not retry.wrap:
            raise ValueError("a policy's Retry must use wrap=True, so its fallback sees RetryError & co.")
        if fallback is not None and not (isinstance(fallback, FallbackStrategy) or callable(fallback)):
            raise TypeError(f"fallback must be a FallbackStrategy or a factory of one, got {fallback!r}")
        if breaker is not None and breaker.fallback_function is not None:
            raise ValueError(
                "a policy's breaker must not have a fallback_function: it would answer before the retry "
                "sees the failure; give the policy a fallback instead"
            )
        self.name = name
        self.breaker = breaker if breaker is not None else CircuitBreaker(name=name, clock=clock)
        self.retry = retry
        self.timeout = None if timeout is None else float(timeout)
        self._fallback = fallback
        self.fallback_on = fallback_on
        self.fallback_ignore = fallback_ignore
        self.feature = feature
        self.toggles = toggles
        self.clock = clock

    def __repr__(self) -> str:
        return (
            f"Policy({self.name!r}, timeout={self.timeout}, retry={self.retry!r}, "
            f"breaker={self.breaker!r}, fallback={self._fallback!r})"
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able picture for an admin endpoint: breaker state, retry limits, timeout, fallback."""
        fallback = self._fallback
        return {
            "name": self.name,
            "breaker": self.breaker.get_state(),
            "retry": {"max_attempts": self.retry.max_attempts, "timeout": self.retry.timeout},
            "timeout": self.timeout,
            "fallback": None if fallback is None else getattr(fallback, "__name__", type(fallback).__name__),
            "fallback_forced": self.toggles.is_forced(self.name),
        }

    def force_fallback(self, forced: bool = True) -> None:
        """Serve this upstream's fallback without calling it (``forced=False`` restores live calls)."""
        self.toggles.force_fallback(self.name, forced)

    def __call__(self, func: Callable[P, T]) -> Callable[P, T]:
        """Decorate ``func``: fallback(retry(breaker(timeout(func))))."""
        guarded: Callable[P, T] = func
        if is_async_callable(func, "a policy") and not inspect.iscoroutinefunction(func):
            guarded = _as_coroutine_function(func)  # every layer then sees an ``async def``
        if self.timeout is not None:
            guarded = self._timed(guarded, self.timeout)
        guarded = self._stop_when_open(self.breaker(guarded))
        guarded = self.retry(guarded)
        fallback = self._fallback
        if fallback is None:
            return guarded
        strategy = fallback if isinstance(fallback, FallbackStrategy) else fallback()
        return with_fallback(
            strategy,
            on=self.fallback_on,
            ignore=self.fallback_ignore,
            name=self.name,
            feature=self.feature,
            toggles=self.toggles,
        )(guarded)

    def _opened_error(self) -> CircuitBreakerError | None:
        """The rejection the breaker would give now, if a failure just left it open."""
        state = self.breaker.state
        if state is not CircuitState.OPEN and state is not CircuitState.FORCED_OPEN:
            return None
        return CircuitBreakerError(
            name=self.breaker.name, state=state.value, retry_after=self.breaker.retry_after
        )

    def _stop_when_open(self, func: Callable[P, T]) -> Callable[P, T]:
        """Between retry and breaker: turn the failure that opened the breaker into its rejection."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def breaker_acall(*args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    return await func(*args, **kwargs)
                except CircuitBreakerError:
                    raise
                except Exception as error:
                    opened = self._opened_error()
                    if opened is None:
                        raise
                    raise opened from error

            return cast(Callable[P, T], breaker_acall)

        @functools.wraps(func)
        def breaker_call(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return func(*args, **kwargs)
            except CircuitBreakerError:
                raise
            except Exception as error:
                opened = self._opened_error()
                if opened is None:
                    raise
                raise opened from error

        return breaker_call

    def _timed(self, func: Callable[P, T], timeout: float) -> Callable[P, T]:
        name, clock = self.name, self.clock
        message = f"{name}: attempt took longer than {timeout:g}s"
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_acall(*args: P.args, **kwargs: P.kwargs) -> Any:
                token = _DEADLINE.set((MONOTONIC, MONOTONIC.monotonic() + timeout))
                try:
                    async with asyncio.timeout(timeout) as scope:
                        return await func(*args, **kwargs)
                except TimeoutError as error:
                    if scope.expired():
                        raise AttemptTimeoutError(message) from error
                    raise
                finally:
                    _DEADLINE.reset(token)

            return cast(Callable[P, T], timed_acall)

        @functools.wraps(func)
        def timed_call(*args: P.args, **kwargs: P.kwargs) -> T:
            start = clock.monotonic()
            token = _DEADLINE.set((clock, start + timeout))
            try:
                result = func(*args, **kwargs)
            finally:
                _DEADLINE.reset(token)
            if clock.monotonic() - start > timeout:
                raise AttemptTimeoutError(message + " (late result dropped)")
            return result

        return timed_call


# --- configuration ---------------------------------------------------------------------------------


def _env_name(service: str) -> str:
    return service.upper().replace("-", "_").replace(".", "_")


def _env_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_environment(mapping: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """A deep copy of ``mapping`` with every ``RESILIENCE__SERVICE__KEY[__SUBKEY]`` override applied;
    a variable naming an unknown service raises :class:`PolicyConfigError`."""
    result = copy.deepcopy(dict(mapping))
    services = result.get("services")
    by_env = {_env_name(name): name for name in services} if isinstance(services, dict) else {}
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        parts = variable[len(ENV_PREFIX) :].split("__")
        if len(parts) < 2 or not all(parts):
            raise PolicyConfigError(
                f"environment: {variable} must look like {ENV_PREFIX}SERVICE__KEY[__SUBKEY]"
            )
        if parts[0] == "DEFAULTS":
            section = result.setdefault("defaults", {})
        elif parts[0] in by_env:
            section = cast(dict[str, Any], services)[by_env[parts[0]]]
        else:
            known = ", ".join(f"{env} ({name})" for env, name in sorted(by_env.items())) or "none"
            raise PolicyConfigError(f"environment: {variable} names no configured service (known: {known})")
        keys = [part.lower() for part in parts[1:]]
        for key in keys[:-1]:
            if not isinstance(section, dict):
                break
            child = section.get(key)
            section[key] = child = dict(child) if isinstance(child, Mapping) else {}
            section = child
        if not isinstance(section, dict):
            raise PolicyConfigError(f"environment: {variable}: cannot set a key inside a non-mapping value")
        section[keys[-1]] = _env_value(environ[variable])
    return result


def _merge(defaults: Mapping[str, Any], section: Mapping[str, Any]) -> dict[str, Any]:
    """``section`` over ``defaults``; the ``retry`` and ``fallback`` mappings merge key by key."""
    merged = {**defaults, **section}
    for key in ("retry", "fallback"):
        base, own = defaults.get(key), section.get(key)
        if isinstance(base, Mapping) and isinstance(own, Mapping):
            merged[key] = {**base, **own}
    return merged


def _exceptions(names: Any, where: str) -> tuple[type[BaseException], ...]:
    """Dotted exception names to classes, through the breaker's own importer (one set of rules)."""
    try:
        return BreakerConfig.from_mapping({"record_exceptions": names}, where=where).record_exceptions
    except ValueError as error:
        raise PolicyConfigError(str(error).replace(".record_exceptions", "")) from None


def _build_retry(name: str, section: Any, where: str, clock: Clock) -> Retry:
    if section is None or section is False:
        section = {"max_attempts": 1}
    if not isinstance(section, Mapping):
        raise PolicyConfigError(f"{where}: expected a mapping of retry options, got {type(section).__name__}")
    unknown = sorted(set(section) - _RETRY_KEYS)
    if unknown:
        raise PolicyConfigError(
            f"{where}: unknown retry option {unknown[0]!r} (known: {', '.join(sorted(_RETRY_KEYS))})"
        )
    options = dict(section)
    if "retry_exceptions" in options:
        options["retry_exceptions"] = _exceptions(options["retry_exceptions"], f"{where}.retry_exceptions")
    else:
        options["retry_exceptions"] = _not_a_bug
    budget = options.pop("budget", None)
    try:
        if budget is not None:
            if not isinstance(budget, Mapping):
                raise ValueError(f"budget: expected a mapping, got {type(budget).__name__}")
            options["budget"] = RetryBudget(**budget, clock=clock)
        return Retry(**options, wrap=True, name=name, clock=clock)
    except (TypeError, ValueError) as error:
        raise PolicyConfigError(f"{where}: {error}") from None


def _build_fallback(section: Any, where: str, clock: Clock) -> FallbackLike | None:
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise PolicyConfigError(f"{where}: expected a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - _FALLBACK_KEYS)
    if unknown:
        raise PolicyConfigError(
            f"{where}: unknown fallback option {unknown[0]!r} (known: {', '.join(sorted(_FALLBACK_KEYS))})"
        )
    strategy = section.get("strategy", "last_known_good")
    if strategy not in _FALLBACK_STRATEGIES:
        raise PolicyConfigError(
            f"{where}.strategy: must be one of {', '.join(_FALLBACK_STRATEGIES)}, got {strategy!r}"
        )
    if strategy == "none":
        return None
    default = DefaultValueFallback(section["default"]) if "default" in section else None
    if strategy == "default":
        if default is None:
            raise PolicyConfigError(f"{where}: strategy 'default' needs a 'default' value")
        return default
    ttl, max_size = section.get("ttl", 300.0), section.get("max_size", 1024)
    try:
        LastKnownGoodFallback(ttl, max_size)  # validate now, not at decoration time
    except ValueError as error:
        raise PolicyConfigError(f"{where}: {error}") from None

    def last_known_good() -> FallbackStrategy:
        cache = LastKnownGoodFallback(ttl, max_size, clock=clock)
        return cache if default is None else ChainedFallback([cache, default])

    return last_known_good


def _build_timeout(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if not _positive_seconds(value):
        raise PolicyConfigError(f"{where}: seconds per attempt, a positive number or null, got {value!r}")
    return float(value)


class PolicyRegistry(Mapping[str, Policy]):
    """The policies of every configured upstream, by service name (a read-only mapping).

    ``breakers`` is the underlying :class:`~resilience.registry.BreakerRegistry`, for admin
    endpoints that list or force breaker states; ``toggles`` the run-time switches.
    """

    def __init__(
        self, policies: Mapping[str, Policy], *, breakers: BreakerRegistry, toggles: Toggles
    ) -> None:
        self._policies = dict(policies)
        self.breakers = breakers
        self.toggles = toggles

    def __getitem__(self, name: str) -> Policy:
        try:
            return self._policies[name]
        except KeyError:
            known = ", ".join(sorted(self._policies)) or "none"
            raise KeyError(f"no policy for service {name!r} (configured: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._policies)

    def __len__(self) -> int:
        return len(self._policies)

    def __repr__(self) -> str:
        return f"PolicyRegistry({sorted(self._policies)})"

    def describe(self) -> dict[str, dict[str, Any]]:
        """:meth:`Policy.describe` of every service, by name."""
        return {name: policy.describe() for name, policy in self._policies.items()}

    @classmethod
    def from_config(
        cls,
        mapping: Mapping[str, Any],
        *,
        where: str = "config",
        environ: Mapping[str, str] | None = None,
        ignore_keys: Collection[str] = (),
        clock: Clock = MONOTONIC,
        toggles: Toggles = TOGGLES,
    ) -> PolicyRegistry:
        """Build every service's policy from the extended seed shape (see the module docstring).

        ``environ`` (default :data:`os.environ`; ``{}`` to ignore it) supplies overrides;
        ``ignore_keys`` are per-service keys that belong to the application (e.g. ``url``). A
        ``toggles`` section, or the toggle environment variables, replace ``toggles``' switches.
        Every error is a :class:`PolicyConfigError` naming the service and the key.
        """
        if not isinstance(mapping, Mapping):
            raise PolicyConfigError(f"{where}: expected a mapping, got {type(mapping).__name__}")
        env = os.environ if environ is None else environ
        data = apply_environment(mapping, env)
        defaults = data.get("defaults") or {}
        services = data.get("services") or {}
        if not isinstance(defaults, Mapping):
            raise PolicyConfigError(f"{where}.defaults: expected a mapping, got {type(defaults).__name__}")
        if not isinstance(services, Mapping):
            raise PolicyConfigError(f"{where}.services: expected a mapping, got {type(services).__name__}")
        skip = POLICY_KEYS | set(ignore_keys)
        try:
            breakers = BreakerRegistry.from_config(
                {"defaults": defaults, "services": services}, where=where, ignore_keys=skip, clock=clock
            )
        except ValueError as error:
            raise PolicyConfigError(str(error)) from None
        policies: dict[str, Policy] = {}
        for name, own in services.items():
            section = _merge(defaults, own or {})
            here = f"{where}.services.{name}"
            policies[name] = Policy(
                name,
                breaker=breakers.breaker(name),
                retry=_build_retry(name, section.get("retry"), f"{here}.retry", clock),
                timeout=_build_timeout(section.get("timeout"), f"{here}.timeout"),
                fallback=_build_fallback(section.get("fallback"), f"{here}.fallback", clock),
                toggles=toggles,
                clock=clock,
            )
        cls._configure_toggles(toggles, data.get("toggles"), env, where)
        return cls(policies, breakers=breakers, toggles=toggles)

    @staticmethod
    def _configure_toggles(toggles: Toggles, section: Any, env: Mapping[str, str], where: str) -> None:
        overrides = {
            key: [part.strip() for part in env[variable].split(",") if part.strip()]
            for key, variable in (
                ("force_fallback", "RESILIENCE_FORCE_FALLBACK"),
                ("disabled_features", "RESILIENCE_DISABLED_FEATURES"),
            )
            if variable in env
        }
        if section is None and not overrides:
            return
        if section is not None and not isinstance(section, Mapping):
            raise PolicyConfigError(f"{where}.toggles: expected a mapping, got {type(section).__name__}")
        try:
            toggles.configure({**(section or {}), **overrides}, where=f"{where}.toggles")
        except ValueError as error:
            raise PolicyConfigError(str(error)) from None

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        environ: Mapping[str, str] | None = None,
        ignore_keys: Collection[str] = (),
        clock: Clock = MONOTONIC,
        toggles: Toggles = TOGGLES,
    ) -> PolicyRegistry:
        """:meth:`from_config` on a JSON or YAML file (the breaker's loader); errors start with the path."""
        try:
            data = load_config_file(path)
        except ValueError as error:
            raise PolicyConfigError(str(error)) from None
        return cls.from_config(
            data, where=str(path), environ=environ, ignore_keys=ignore_keys, clock=clock, toggles=toggles
        )
