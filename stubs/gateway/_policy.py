"""The one place the gateway turns a config section into resilience: fallback → retry → breaker →
per-attempt timeout, per upstream.

Adapter note: this composes the library's primitives (``CircuitBreaker``, ``Retry``,
``with_fallback``) directly, because ``resilience.policy`` did not exist when the gateway was
written; switching to ``PolicyRegistry.from_config`` later touches only this module.

Section keys: breaker options (any :class:`~resilience.breaker.BreakerConfig` field, plus the
seed's ``recovery_timeout``); ``timeout`` (seconds per attempt, enforced by the upstream client);
``retry`` (keyword arguments of :class:`~resilience.retry.Retry`); ``fallback``:
``{"strategy": "last_known_good" | "default" | "none", "ttl": 300, "default": {...}}`` where
``last_known_good`` with a ``default`` chains the two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from resilience.breaker import BreakerConfig, CircuitBreaker
from resilience.errors import CircuitBreakerError, RetryError
from resilience.fallback import (
    ChainedFallback,
    DefaultValueFallback,
    FallbackStrategy,
    LastKnownGoodFallback,
    with_fallback,
)
from resilience.retry import Retry
from stubs.gateway.config import ConfigError
from stubs.gateway.upstreams import UPSTREAM_FAILURES

__all__ = ["STRATEGY_LABELS", "UpstreamPolicy", "build_policy"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

STRATEGY_LABELS = {"LastKnownGoodFallback": "last_known_good", "DefaultValueFallback": "default"}
"""How a served fallback is named in the ``X-Fallback`` header and the ``fallbacks`` body field."""

_POLICY_KEYS = frozenset({"timeout", "retry", "fallback"})
_FALLBACK_STRATEGIES = ("last_known_good", "default", "none")


@dataclass(frozen=True)
class UpstreamPolicy:
    """The resilience of one upstream: its breaker, and :meth:`wrap` for the calls to it."""

    name: str
    breaker: CircuitBreaker
    retry: Retry
    fallback: FallbackStrategy | None
    timeout: float

    def wrap(self, func: F) -> F:
        """``func`` (async) behind fallback → retry → breaker; the timeout lives in the client."""
        guarded = self.retry(self.breaker(func))
        if self.fallback is None:
            return guarded
        return with_fallback(
            self.fallback, on=(*UPSTREAM_FAILURES, CircuitBreakerError, RetryError), name=self.name
        )(guarded)


def _fallback(name: str, section: Any) -> FallbackStrategy | None:
    where = f"services.{name}.fallback"
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(section).__name__}")
    unknown = set(section) - {"strategy", "ttl", "default"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: default, strategy, ttl")
    strategy = section.get("strategy", "last_known_good")
    if strategy not in _FALLBACK_STRATEGIES:
        raise ConfigError(
            f"{where}.strategy: must be one of {', '.join(_FALLBACK_STRATEGIES)}, got {strategy!r}"
        )
    default = DefaultValueFallback(section["default"]) if "default" in section else None
    if strategy == "none":
        return None
    if strategy == "default":
        if default is None:
            raise ConfigError(f"{where}: strategy 'default' needs a 'default' value")
        return default
    try:
        last_known_good = LastKnownGoodFallback(ttl=section.get("ttl", 300.0))
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None
    return last_known_good if default is None else ChainedFallback([last_known_good, default])


def build_policy(name: str, section: Mapping[str, Any]) -> UpstreamPolicy:
    """Build the policy of upstream ``name``; every mistake is a :class:`ConfigError` naming its key."""
    where = f"services.{name}"
    try:
        breaker_config = BreakerConfig.from_mapping(
            section,
            where=where,
            ignore_keys=_POLICY_KEYS,
            base=BreakerConfig(record_exceptions=UPSTREAM_FAILURES),
        )
    except ValueError as error:
        raise ConfigError(str(error)) from None
    timeout = section.get("timeout", 1.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise ConfigError(f"{where}.timeout: seconds per attempt, in (0, 300], got {timeout!r}")
    retry_section = section.get("retry", {})
    if not isinstance(retry_section, Mapping):
        raise ConfigError(f"{where}.retry: expected an object, got {type(retry_section).__name__}")
    try:
        retry = Retry(**retry_section, retry_exceptions=UPSTREAM_FAILURES, wrap=True, name=name)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}.retry: {error}") from None
    return UpstreamPolicy(
        name=name,
        breaker=CircuitBreaker(name=name, config=breaker_config),
        retry=retry,
        fallback=_fallback(name, section.get("fallback")),
        timeout=float(timeout),
    )
