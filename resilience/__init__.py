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
    AuthenticationError,
    Category,
    CircuitBreakerError,
    ConflictError,
    ErrorSpec,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResilienceError,
    RetryBudgetExhaustedError,
    RetryError,
    Severity,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    error_spec,
    register_error,
    unregister_error,
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
    "AuthenticationError",
    "Backoff",
    "BreakerConfig",
    "BreakerRegistry",
    "CachedDataFallback",
    "CallEvent",
    "CallOutcome",
    "Category",
    "ChainedFallback",
    "CircuitBreaker",
    "CircuitBreakerError",
    "CircuitState",
    "ConflictError",
    "DefaultValueFallback",
    "ErrorSpec",
    "FallbackChainError",
    "FallbackStrategy",
    "InvalidRequestError",
    "LastKnownGoodFallback",
    "NonRetryableError",
    "NotFoundError",
    "PermissionDeniedError",
    "Policy",
    "PolicyConfigError",
    "PolicyRegistry",
    "RateLimitedError",
    "ResilienceError",
    "Retry",
    "RetryBudget",
    "RetryBudgetExhaustedError",
    "RetryError",
    "RetryableError",
    "Severity",
    "SlidingWindowType",
    "StateTransition",
    "Toggles",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "collect_fallbacks",
    "current_timeout",
    "error_spec",
    "fallback_info",
    "is_active",
    "is_fallback",
    "is_testing",
    "load_config_file",
    "parse_retry_after",
    "register_error",
    "retry",
    "retrying",
    "set_active",
    "set_testing",
    "unregister_error",
    "with_fallback",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("resilience-harness")
    raise AttributeError(f"module 'resilience' has no attribute {name!r}")
