"""The error taxonomy shared by every resilience component and the error middleware.

Hierarchy::

    Exception
     └── ResilienceError                  code, category, severity, retryable, http_status
          ├── CircuitBreakerError         503, carries name, state and retry_after
          ├── RetryError                  502, the retry gave up; ``__cause__`` is the last error
          │    └── UpstreamTimeoutError   504, the last attempt timed out
          ├── RetryBudgetExhaustedError   503, retries refused to stop a retry storm
          ├── UpstreamUnavailableError    502, the upstream could not be reached at all
          ├── InvalidRequestError         400, the application rejected the request's content
          ├── AuthenticationError         401, who is calling is unknown
          ├── PermissionDeniedError       403, the caller may not do this
          ├── NotFoundError               404
          ├── ConflictError               409, the request clashes with the current state
          └── RateLimitedError            429, carries retry_after

Each class states its metadata as class attributes, so a subclass inherits its parent's mapping
and applications add their own types by subclassing :class:`ResilienceError`. Exception classes
the application does not own (a driver's, an HTTP client's) are mapped once, at the edge, with
:func:`register_error`; :func:`error_spec` resolves any exception by walking its MRO, so a
subclass inherits the mapping of its nearest registered or taxonomy ancestor.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import threading
from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "Category",
    "CircuitBreakerError",
    "ConflictError",
    "ErrorSpec",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ResilienceError",
    "RetryBudgetExhaustedError",
    "RetryError",
    "Severity",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "error_spec",
    "register_error",
    "unregister_error",
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


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorSpec:
    """How one exception type is answered over HTTP.

    ``code`` is the stable machine-readable name (``UPPER_SNAKE``), ``http_status`` is 400..599,
    ``expose_message`` says whether ``str(exc)`` is written for clients (default: it is not, and
    only the catalog message for ``code`` leaves the process).
    """

    code: str
    http_status: int
    category: Category
    severity: Severity
    retryable: bool = False
    expose_message: bool = False

    def __post_init__(self) -> None:
        if not _CODE_RE.fullmatch(self.code):
            raise ValueError(f"code must be UPPER_SNAKE_CASE (A-Z, 0-9, _), got {self.code!r}")
        _check_status(self.http_status)
        if not isinstance(self.category, Category) or not isinstance(self.severity, Severity):
            raise TypeError(
                f"category must be a Category and severity a Severity, "
                f"got {self.category!r} and {self.severity!r}"
            )

    @classmethod
    def of(cls, exc_type: type[ResilienceError]) -> ErrorSpec:
        """The spec a taxonomy class declares through its class attributes."""
        return cls(
            code=exc_type.code,
            http_status=exc_type.http_status,
            category=exc_type.category,
            severity=exc_type.severity,
            retryable=exc_type.retryable,
            expose_message=exc_type.expose_message,
        )


_CODE_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def _check_status(status: object) -> None:
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError(f"http status must be an int, got {status!r}")
    if not 400 <= status <= 599:
        raise ValueError(f"http status must be an error status in 400..599, got {status}")


class ResilienceError(Exception):
    """Base of every error this library raises on purpose.

    ``code`` is stable across versions and languages; clients may branch on it. ``message`` is the
    human text for logs (the middleware answers with the catalog message for ``code`` instead);
    ``context`` holds structured facts for logs. Set ``expose_message = True`` on a subclass whose
    messages are written for clients: the middleware then sends ``message`` as the detail.
    """

    code: ClassVar[str] = "RESILIENCE_ERROR"
    category: ClassVar[Category] = Category.INTERNAL
    severity: ClassVar[Severity] = Severity.ERROR
    retryable: ClassVar[bool] = False
    http_status: ClassVar[int] = 500
    expose_message: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse a malformed code, status, category or severity where the class is defined."""
        super().__init_subclass__(**kwargs)
        try:
            ErrorSpec.of(cls)
        except (TypeError, ValueError) as problem:
            raise type(problem)(f"{cls.__module__}.{cls.__qualname__}: {problem}") from None

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


class UpstreamUnavailableError(ResilienceError):
    """The upstream could not be reached (connection refused or reset, DNS failure)."""

    code = "UPSTREAM_UNAVAILABLE"
    category = Category.UPSTREAM_UNAVAILABLE
    severity = Severity.ERROR
    retryable = True
    http_status = 502


class InvalidRequestError(ResilienceError):
    """The application rejected the request's content after it passed schema validation."""

    code = "INVALID_REQUEST"
    category = Category.VALIDATION
    severity = Severity.INFO
    http_status = 400


class AuthenticationError(ResilienceError):
    """The caller did not prove who it is."""

    code = "UNAUTHENTICATED"
    category = Category.AUTH
    severity = Severity.INFO
    http_status = 401


class PermissionDeniedError(ResilienceError):
    """The caller is known but may not do this."""

    code = "FORBIDDEN"
    category = Category.AUTH
    severity = Severity.INFO
    http_status = 403


class NotFoundError(ResilienceError):
    """The addressed resource does not exist."""

    code = "NOT_FOUND"
    category = Category.NOT_FOUND
    severity = Severity.INFO
    http_status = 404


class ConflictError(ResilienceError):
    """The request clashes with the resource's current state (duplicate, stale version)."""

    code = "CONFLICT"
    category = Category.CONFLICT
    severity = Severity.INFO
    http_status = 409


class RateLimitedError(ResilienceError):
    """The caller sent too much; ``retry_after`` seconds (0 = unknown) becomes ``Retry-After``."""

    code = "RATE_LIMITED"
    category = Category.RATE_LIMIT
    severity = Severity.INFO
    retryable = True
    http_status = 429

    def __init__(self, message: str = "", *, retry_after: float = 0.0, **context: Any) -> None:
        super().__init__(message, retry_after=retry_after, **context)
        self.retry_after = retry_after


# Registered mappings, keyed by class or by "module.QualName" so that foreign libraries are
# mapped without importing them. Writes take the lock; lookups read the dicts directly.
_by_class: dict[type[BaseException], ErrorSpec] = {}
_by_name: dict[str, ErrorSpec] = {}
_lock = threading.Lock()
# Resolution per concrete type, cleared by every (un)registration; bounded so that a process
# creating exception classes dynamically cannot grow it without limit.
_resolved: dict[type[BaseException], ErrorSpec | None] = {}
_RESOLVED_LIMIT = 1024


def _category_for_status(status: int) -> Category:
    """The category a bare status implies: 404 not found, 429 rate limit, 504 timeout, ..."""
    named = {
        401: Category.AUTH,
        403: Category.AUTH,
        404: Category.NOT_FOUND,
        409: Category.CONFLICT,
        429: Category.RATE_LIMIT,
        502: Category.UPSTREAM_UNAVAILABLE,
        503: Category.UPSTREAM_UNAVAILABLE,
        504: Category.TIMEOUT,
    }
    return named.get(status, Category.VALIDATION if status < 500 else Category.INTERNAL)


def register_error(
    exc_class: type[BaseException] | str,
    *,
    code: str,
    status: int,
    category: Category | None = None,
    severity: Severity | None = None,
    retryable: bool = False,
    expose_message: bool = False,
) -> ErrorSpec:
    """Map an exception class (or its dotted ``"module.QualName"``) to an HTTP answer.

    Use a dotted name for a library you do not want to import eagerly, e.g.
    ``register_error("httpx.ReadTimeout", code="UPSTREAM_TIMEOUT", status=504)``. ``category``
    defaults from the status (404 not found, 429 rate limit, 502/503 upstream unavailable, 504
    timeout, other 4xx validation, other 5xx internal); ``severity`` defaults to ``INFO`` for 4xx
    and ``ERROR`` for 5xx. A later registration for the same class replaces the earlier one.
    Subclasses inherit the mapping (nearest ancestor in the MRO wins).
    """
    if isinstance(exc_class, str):
        if "." not in exc_class:
            raise ValueError(f"a dotted 'module.QualName' is required, got {exc_class!r}")
    elif not (isinstance(exc_class, type) and issubclass(exc_class, BaseException)):
        raise TypeError(f"exc_class must be an exception class or a dotted name, got {exc_class!r}")
    _check_status(status)
    spec = ErrorSpec(
        code=code,
        http_status=status,
        category=category if category is not None else _category_for_status(status),
        severity=severity if severity is not None else (Severity.INFO if status < 500 else Severity.ERROR),
        retryable=retryable,
        expose_message=expose_message,
    )
    with _lock:
        if isinstance(exc_class, str):
            _by_name[exc_class] = spec
        else:
            _by_class[exc_class] = spec
        _resolved.clear()
    return spec


def unregister_error(exc_class: type[BaseException] | str) -> None:
    """Forget a mapping made with :func:`register_error`; unknown keys are ignored."""
    with _lock:
        if isinstance(exc_class, str):
            _by_name.pop(exc_class, None)
        else:
            _by_class.pop(exc_class, None)
        _resolved.clear()


def error_spec(exc: BaseException) -> ErrorSpec | None:
    """The spec for ``exc``: the nearest registered or taxonomy class in its MRO, else ``None``.

    ``None`` means "unexpected": the middleware answers a generic 500 and logs the full error.
    The answer is cached per exception type (taxonomy class attributes are read once).
    """
    exc_type = type(exc)
    try:
        return _resolved[exc_type]
    except KeyError:
        spec = _resolve(exc_type)
    if len(_resolved) < _RESOLVED_LIMIT:
        _resolved[exc_type] = spec
    return spec


def _resolve(exc_type: type[BaseException]) -> ErrorSpec | None:
    for klass in exc_type.__mro__:
        spec = _by_class.get(klass)
        if spec is None and _by_name:
            spec = _by_name.get(f"{klass.__module__}.{klass.__qualname__}")
        if spec is not None:
            return spec
        if issubclass(klass, ResilienceError):
            return ErrorSpec.of(klass)
    return None


# Foreign errors translated once, at the edge. httpx rewrites ``__module__`` of its public
# classes to "httpx", so these names match without importing it.
register_error("httpx.TimeoutException", code="UPSTREAM_TIMEOUT", status=504, retryable=True)
register_error("httpx.NetworkError", code="UPSTREAM_UNAVAILABLE", status=502, retryable=True)
register_error("httpx.RemoteProtocolError", code="UPSTREAM_FAILED", status=502, retryable=True)
register_error("httpx.HTTPStatusError", code="UPSTREAM_FAILED", status=502)
register_error(TimeoutError, code="UPSTREAM_TIMEOUT", status=504, retryable=True)
