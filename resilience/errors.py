"""The error taxonomy shared by every resilience component and the error middleware.

Hierarchy::

    Exception
     └── ResilienceError                  code, category, severity, retryable, http_status
          ├── CircuitBreakerError         503, carries name, state and retry_after
          ├── RetryError                  502, the retry gave up; ``__cause__`` is the last error
          │    └── UpstreamTimeoutError   504, the last attempt timed out
          └── RetryBudgetExhaustedError   503, retries refused to stop a retry storm

Each class states its metadata as class attributes, so a subclass inherits its parent's mapping
and applications add their own types by subclassing :class:`ResilienceError`.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

__all__ = [
    "Category",
    "CircuitBreakerError",
    "ResilienceError",
    "RetryBudgetExhaustedError",
    "RetryError",
    "Severity",
    "UpstreamTimeoutError",
]


class Category(enum.Enum):
    """What kind of failure an error is; stable strings, safe to show to clients."""

    VALIDATION = "validation"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    TIMEOUT = "timeout"
    INTERNAL = "internal"


class Severity(enum.Enum):
    """How bad it is for the operator; drives log level and alerting."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class ResilienceError(Exception):
    """Base of every error this library raises on purpose.

    ``code`` is stable across versions and languages; clients may branch on it. ``message`` is the
    human text (the middleware may translate it by code); ``context`` holds safe, structured facts.
    """

    code: ClassVar[str] = "RESILIENCE_ERROR"
    category: ClassVar[Category] = Category.INTERNAL
    severity: ClassVar[Severity] = Severity.ERROR
    retryable: ClassVar[bool] = False
    http_status: ClassVar[int] = 500

    def __init__(self, message: str = "", **context: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.context: dict[str, Any] = context


class CircuitBreakerError(ResilienceError):
    """A breaker refused the call without running it.

    ``retry_after`` is the number of seconds until the breaker will let a probe through (0 when it
    is half-open and merely full); an HTTP layer turns it into a ``Retry-After`` header.
    """

    code = "CIRCUIT_OPEN"
    category = Category.UPSTREAM_UNAVAILABLE
    severity = Severity.WARNING
    retryable = True
    http_status = 503

    def __init__(
        self, message: str = "", *, name: str = "", state: str = "OPEN", retry_after: float = 0.0
    ) -> None:
        super().__init__(
            message or f"circuit breaker {name!r} is {state}; retry after {retry_after:.3f}s",
            name=name,
            state=state,
            retry_after=retry_after,
        )
        self.name = name
        self.state = state
        self.retry_after = retry_after


class RetryError(ResilienceError):
    """The retry gave up: attempts or time budget exhausted. The last error is ``__cause__``."""

    code = "UPSTREAM_FAILED"
    category = Category.UPSTREAM_UNAVAILABLE
    severity = Severity.ERROR
    retryable = True
    http_status = 502


class UpstreamTimeoutError(RetryError):
    """The last attempt (or the whole budget) ran out of time."""

    code = "UPSTREAM_TIMEOUT"
    category = Category.TIMEOUT
    http_status = 504


class RetryBudgetExhaustedError(ResilienceError):
    """A shared retry budget refused another retry, to stop a retry storm."""

    code = "RETRY_BUDGET_EXHAUSTED"
    category = Category.UPSTREAM_UNAVAILABLE
    severity = Severity.WARNING
    retryable = True
    http_status = 503
