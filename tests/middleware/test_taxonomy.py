"""The error taxonomy: metadata per class, MRO resolution, registration of foreign errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from resilience.errors import (
    AuthenticationError,
    Category,
    CircuitBreakerError,
    ConflictError,
    ErrorSpec,
    NotFoundError,
    PermissionDeniedError,
    ResilienceError,
    RetryBudgetExhaustedError,
    RetryError,
    Severity,
    UpstreamTimeoutError,
    error_spec,
    register_error,
    unregister_error,
)
from resilience.middleware import add_error_handlers

from .conftest import call_app


@pytest.mark.parametrize(
    ("exc", "code", "status", "retryable"),
    [
        (CircuitBreakerError(name="db", retry_after=1), "CIRCUIT_OPEN", 503, True),
        (RetryError(), "UPSTREAM_FAILED", 502, True),
        (UpstreamTimeoutError(), "UPSTREAM_TIMEOUT", 504, True),
        (RetryBudgetExhaustedError(), "RETRY_BUDGET_EXHAUSTED", 503, True),
        (AuthenticationError(), "UNAUTHENTICATED", 401, False),
        (PermissionDeniedError(), "FORBIDDEN", 403, False),
        (NotFoundError(), "NOT_FOUND", 404, False),
        (httpx.ConnectError("refused"), "UPSTREAM_UNAVAILABLE", 502, True),
        (httpx.ReadTimeout("slow"), "UPSTREAM_TIMEOUT", 504, True),
        (TimeoutError(), "UPSTREAM_TIMEOUT", 504, True),
    ],
)
def test_builtin_specs(exc: BaseException, code: str, status: int, retryable: bool) -> None:
    spec = error_spec(exc)
    assert spec is not None
    assert (spec.code, spec.http_status, spec.retryable) == (code, status, retryable)


def test_unknown_errors_have_no_spec() -> None:
    assert error_spec(ValueError("x")) is None
    assert error_spec(KeyError("x")) is None


def test_existing_names_keep_their_metadata() -> None:
    exc = CircuitBreakerError(name="payments", state="OPEN", retry_after=2.5)
    assert (exc.name, exc.state, exc.retry_after) == ("payments", "OPEN", 2.5)
    assert exc.context == {"name": "payments", "state": "OPEN", "retry_after": 2.5}
    assert isinstance(UpstreamTimeoutError(), RetryError)
    assert CircuitBreakerError.category is Category.UPSTREAM_UNAVAILABLE
    assert CircuitBreakerError.severity is Severity.WARNING


class PaymentDeclined(ResilienceError):
    code = "PAYMENT_DECLINED"
    category = Category.CONFLICT
    severity = Severity.INFO
    http_status = 402


class CardExpired(PaymentDeclined):
    """Inherits its parent's mapping."""


class VendorError(Exception):
    """An exception class the application does not own."""


class VendorThrottled(VendorError):
    pass


@pytest.fixture
def registered() -> Iterator[None]:
    register_error(VendorError, code="VENDOR_FAILED", status=502)
    register_error(f"{__name__}.VendorThrottled", code="VENDOR_THROTTLED", status=429, retryable=True)
    yield
    unregister_error(VendorError)
    unregister_error(f"{__name__}.VendorThrottled")


def test_subclasses_inherit_by_mro(registered: None) -> None:
    assert error_spec(CardExpired()) == ErrorSpec.of(PaymentDeclined)
    assert error_spec(VendorError()).code == "VENDOR_FAILED"  # type: ignore[union-attr]
    spec = error_spec(VendorThrottled())  # the nearer, by-name registration wins
    assert spec is not None and (spec.code, spec.category) == ("VENDOR_THROTTLED", Category.RATE_LIMIT)


def test_registration_overrides_a_taxonomy_class_and_can_be_undone() -> None:
    register_error(NotFoundError, code="GONE_FOR_GOOD", status=410)
    try:
        assert error_spec(NotFoundError()).code == "GONE_FOR_GOOD"  # type: ignore[union-attr]
    finally:
        unregister_error(NotFoundError)
    assert error_spec(NotFoundError()).code == "NOT_FOUND"  # type: ignore[union-attr]


def test_registered_foreign_errors_are_answered(registered: None) -> None:
    app = FastAPI()

    @app.get("/vendor")
    async def vendor() -> None:
        raise VendorThrottled("vendor said: slow down, account 123")

    @app.get("/card")
    async def card() -> None:
        raise CardExpired("card 4242 expired")

    @app.get("/db")
    def db() -> None:
        sqlite3.connect(":memory:").execute("SELECT nope FROM nowhere")

    add_error_handlers(app, reraise_unhandled=False)
    response = call_app(app, "GET", "/vendor")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "VENDOR_THROTTLED"
    assert "account 123" not in response.text
    declined = call_app(app, "GET", "/card")
    assert (declined.status_code, declined.json()["error"]["code"]) == (402, "PAYMENT_DECLINED")
    assert call_app(app, "GET", "/db").json()["error"]["code"] == "INTERNAL_SERVER_ERROR"
    register_error(sqlite3.OperationalError, code="DATABASE_UNAVAILABLE", status=503)
    try:
        response = call_app(app, "GET", "/db")
        assert response.status_code == 503 and "nowhere" not in response.text
    finally:
        unregister_error(sqlite3.OperationalError)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"code": "lower_case", "status": 400}, "UPPER_SNAKE"),
        ({"code": "OK", "status": 200}, "400..599"),
        ({"code": "OK", "status": 600}, "400..599"),
        ({"code": "OK", "status": "500"}, "must be an int"),
    ],
)
def test_bad_registrations_are_refused(kwargs: dict, error: str) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        register_error(VendorError, **kwargs)
    assert error_spec(VendorError()) is None


@pytest.mark.parametrize(
    ("attributes", "error"),
    [
        ({"code": "order-locked"}, "UPPER_SNAKE"),
        ({"http_status": 200}, "400..599"),
        ({"http_status": "409"}, "must be an int"),
        ({"category": "conflict"}, "must be a Category"),
        ({"severity": "warning"}, "severity a Severity"),
    ],
)
def test_a_malformed_taxonomy_class_is_refused_where_it_is_defined(attributes: dict, error: str) -> None:
    with pytest.raises((ValueError, TypeError), match=error) as refused:
        type("OrderLocked", (ConflictError,), attributes)
    assert "OrderLocked" in str(refused.value)


def test_bad_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="dotted"):
        register_error("VendorError", code="X", status=500)
    with pytest.raises(TypeError, match="exception class"):
        register_error(int, code="X", status=500)  # type: ignore[arg-type]


def test_category_and_severity_default_from_status() -> None:
    spec = register_error("some.lib.NotThere", code="NOT_THERE", status=404)
    unregister_error("some.lib.NotThere")
    assert (spec.category, spec.severity) == (Category.NOT_FOUND, Severity.INFO)
    spec = register_error("some.lib.Broke", code="BROKE", status=500)
    unregister_error("some.lib.Broke")
    assert (spec.category, spec.severity) == (Category.INTERNAL, Severity.ERROR)
