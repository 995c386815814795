"""Resilience primitives for Python services: breaker, retry, fallback, error model, DLQ client.

This module is only an index: every name lives in a module named after its concern, and
``__version__`` comes from the installed package metadata, never from a second hand-kept string.
"""

from __future__ import annotations

from typing import Any

from resilience._config import is_active, is_testing, set_active, set_testing
from resilience.breaker import (
    BreakerConfig,
    CallEvent,
    CallOutcome,
    CircuitBreaker,
    CircuitState,
    SlidingWindowType,
    StateTransition,
)
from resilience.errors import (
    CircuitBreakerError,
    ResilienceError,
    RetryBudgetExhaustedError,
    RetryError,
    UpstreamTimeoutError,
)
from resilience.fallback import (
    CachedDataFallback,
    ChainedFallback,
    DefaultValueFallback,
    FallbackChainError,
    FallbackStrategy,
    LastKnownGoodFallback,
    Toggles,
    collect_fallbacks,
    fallback_info,
    is_fallback,
    with_fallback,
)
from resilience.policy import Policy, PolicyConfigError, PolicyRegistry, current_timeout
from resilience.registry import BreakerRegistry, load_config_file
from resilience.retry import (
    Backoff,
    NonRetryableError,
    Retry,
    RetryableError,
    RetryBudget,
    parse_retry_after,
    retry,
    retrying,
)

__all__ = [
    "Backoff",
    "BreakerConfig",
    "BreakerRegistry",
    "CachedDataFallback",
    "CallEvent",
    "CallOutcome",
    "ChainedFallback",
    "CircuitBreaker",
    "CircuitBreakerError",
    "CircuitState",
    "DefaultValueFallback",
    "FallbackChainError",
    "FallbackStrategy",
    "LastKnownGoodFallback",
    "NonRetryableError",
    "Policy",
    "PolicyConfigError",
    "PolicyRegistry",
    "ResilienceError",
    "Retry",
    "RetryBudget",
    "RetryBudgetExhaustedError",
    "RetryError",
    "RetryableError",
    "SlidingWindowType",
    "StateTransition",
    "Toggles",
    "UpstreamTimeoutError",
    "collect_fallbacks",
    "current_timeout",
    "fallback_info",
    "is_active",
    "is_fallback",
    "is_testing",
    "load_config_file",
    "parse_retry_after",
    "retry",
    "retrying",
    "set_active",
    "set_testing",
    "with_fallback",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("resilience-harness")
    raise AttributeError(f"module 'resilience' has no attribute {name!r}")
