"""Nothing internal leaves the process: exception text, SQL, secrets, tracebacks, echoed input."""

from __future__ import annotations

import logging

import pytest

from resilience.middleware import ErrorHandlingMiddleware, add_error_handlers

from ._app import SECRET, make_app
from .conftest import Call, call_app

LEAKY_PATHS = ["/boom", "/sql", "/breaker", "/retry", "/conflict", "/items/503"]


@pytest.mark.parametrize("accept", ["application/json", "application/problem+json"])
@pytest.mark.parametrize("path", LEAKY_PATHS)
def test_secret_in_exception_never_reaches_the_client(demo: Call, path: str, accept: str) -> None:
    response = demo("GET", path, headers={"accept": accept})
    assert response.status_code >= 500 or response.status_code == 409
    text = response.text + "".join(f"{k}:{v}" for k, v in response.headers.items())
    for fragment in (SECRET, "Traceback", "SELECT", "postgresql://", "10.0.0.7", "payments-"):
        assert fragment not in text


def test_validation_never_echoes_input(demo: Call) -> None:
    response = demo(
        "POST",
        "/orders",
        json={"item": SECRET * 3, "quantity": SECRET, "coupon": SECRET, "extra": SECRET},
    )
    assert response.status_code == 400
    assert SECRET not in response.text
    errors = response.json()["error"]["context"]["errors"]
    assert {e["pointer"] for e in errors} == {"/item", "/quantity", "/coupon"}
    for error in errors:
        assert set(error) == {"in", "pointer", "type", "message"}  # no input, ctx or msg
    coupon = next(e for e in errors if e["pointer"] == "/coupon")
    assert coupon["type"] == "value_error" and coupon["message"] == "Invalid value."


def test_500_is_logged_in_full_with_the_request_id(demo: Call, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="resilience.middleware")
    response = demo("GET", "/boom", headers={"x-request-id": "trace-abc-123"})
    assert response.json()["request_id"] == "trace-abc-123"
    records = [r for r in caplog.records if r.name == "resilience.middleware"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.ERROR
    assert record.request_id == "trace-abc-123"  # type: ignore[attr-defined]
    assert "trace-abc-123" in record.getMessage()
    assert record.exc_info is not None and SECRET in str(record.exc_info[1])


def test_taxonomy_errors_log_at_their_severity(demo: Call, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="resilience.middleware")
    demo("GET", "/breaker")  # WARNING severity, no traceback
    demo("GET", "/retry")  # ERROR severity, with traceback
    levels = {r.getMessage().split(" ")[0]: r for r in caplog.records if r.name == "resilience.middleware"}
    assert levels["CIRCUIT_OPEN"].levelno == logging.WARNING and levels["CIRCUIT_OPEN"].exc_info is None
    assert levels["UPSTREAM_FAILED"].levelno == logging.ERROR and levels["UPSTREAM_FAILED"].exc_info


def test_debug_adds_details_on_5xx_only() -> None:
    app = make_app(debug=True)
    body = call_app(app, "GET", "/boom").json()
    debug = body["error"]["context"]["debug"]
    assert debug["exception"] == "builtins.RuntimeError"
    assert SECRET in debug["message"]
    assert any("Traceback" in line for line in debug["traceback"])
    assert "debug" not in call_app(app, "GET", "/items/404").json()["error"].get("context", {})


@pytest.mark.parametrize("variable", ["ENVIRONMENT", "APP_ENV", "ENV"])
@pytest.mark.parametrize("value", ["production", "Prod", " PRODUCTION "])
def test_debug_is_refused_in_production(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=f"{variable}="):
        make_app(debug=True)
    with pytest.raises(ValueError, match="refused"):
        ErrorHandlingMiddleware(make_app(), debug=True)
    make_app()  # debug off is fine in production


def test_debug_allowed_outside_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "staging")
    from fastapi import FastAPI

    add_error_handlers(FastAPI(), debug=True)
