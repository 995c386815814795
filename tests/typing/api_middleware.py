"""Type-checked, never executed: pins the public signatures of the error model and middleware.

Run: ``mypy --strict tests/typing/api_middleware.py``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import Response

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
from resilience.middleware import (
    PRODUCTION_ENV_VARS,
    ErrorDetail,
    ErrorHandlingMiddleware,
    ErrorResponse,
    RequestIdFilter,
    add_error_handlers,
    get_request_id,
    http_exception_handler,
    register_messages,
    validation_exception_handler,
)


class OrderLocked(ResilienceError):
    code = "ORDER_LOCKED"
    category = Category.CONFLICT
    severity = Severity.INFO
    retryable = False
    http_status = 423
    expose_message = True


def taxonomy() -> None:
    breaker = CircuitBreakerError("", name="db", state="OPEN", retry_after=1.5)
    name: str = breaker.name
    state: str = breaker.state
    after: float = breaker.retry_after
    limited = RateLimitedError("slow down", retry_after=2.0, user="u1")
    limited_after: float = limited.retry_after
    errors: list[ResilienceError] = [
        RetryError("gave up"),
        UpstreamTimeoutError(),
        RetryBudgetExhaustedError(),
        UpstreamUnavailableError(),
        InvalidRequestError(),
        AuthenticationError(),
        PermissionDeniedError(),
        NotFoundError(),
        ConflictError(),
        OrderLocked("locked", order_id=7),
    ]
    status: int = errors[0].http_status
    code: str = errors[0].code
    retryable: bool = errors[0].retryable
    context: dict[str, object] = errors[0].context
    print(name, state, after, limited_after, status, code, retryable, context)


def registry() -> None:
    spec: ErrorSpec = register_error(
        "httpx.ReadTimeout",
        code="UPSTREAM_TIMEOUT",
        status=504,
        category=Category.TIMEOUT,
        severity=Severity.WARNING,
        retryable=True,
        expose_message=False,
    )
    register_error(KeyError, code="MISSING_KEY", status=400)
    unregister_error(KeyError)
    unregister_error("httpx.ReadTimeout")
    found: ErrorSpec | None = error_spec(ValueError())
    derived: ErrorSpec = ErrorSpec.of(OrderLocked)
    http_status: int = spec.http_status
    category: Category = derived.category
    print(found, http_status, category)


def setup() -> None:
    app = FastAPI()
    add_error_handlers(
        app,
        problem_details=False,
        debug=False,
        validation_status=400,
        default_language="en",
        problem_type_base=None,
        request_id_header="X-Request-ID",
        trust_request_id=True,
        reraise_unhandled=True,
    )
    plain = Starlette(
        middleware=[Middleware(ErrorHandlingMiddleware, problem_details=True)],
        exception_handlers={
            HTTPException: http_exception_handler,
            RequestValidationError: validation_exception_handler,
        },
    )
    other = FastAPI()
    other.add_middleware(ErrorHandlingMiddleware, validation_status=422, problem_type_base="https://e.x/")
    wrapped = ErrorHandlingMiddleware(plain, default_language="de")
    print(wrapped.app, PRODUCTION_ENV_VARS[0])


def models_and_logging() -> None:
    detail = ErrorDetail("HTTP_404", "Not found.", detail="no such order", context={"id": 7})
    envelope: dict[str, object] = ErrorResponse(detail, request_id="abc", status_code=404).to_dict()
    as_dict: dict[str, object] = detail.to_dict()
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    current: str | None = get_request_id()
    register_messages("de", {"ORDER_LOCKED": "Bestellung gesperrt."})
    print(envelope, as_dict, current)


async def handlers(request: object) -> None:
    from starlette.requests import Request

    assert isinstance(request, Request)
    response: Response = await http_exception_handler(request, HTTPException(404))
    print(response.status_code)
