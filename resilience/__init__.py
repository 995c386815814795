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
from resilience.registry import BreakerRegistry, load_config_file

__all__ = [
    "BreakerConfig",
    "BreakerRegistry",
    "CallEvent",
    "CallOutcome",
    "CircuitBreaker",
    "CircuitBreakerError",
    "CircuitState",
    "ResilienceError",
    "RetryBudgetExhaustedError",
    "RetryError",
    "SlidingWindowType",
    "StateTransition",
    "UpstreamTimeoutError",
    "is_active",
    "is_testing",
    "load_config_file",
    "set_active",
    "set_testing",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("resilience-harness")
    raise AttributeError(f"module 'resilience' has no attribute {name!r}")
