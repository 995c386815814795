"""Nothing internal leaves the process: exception text, SQL, secrets, tracebacks, echoed input."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from resilience.errors import register_error, unregister_error
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


@pytest.fixture
def record_factory_with_request_id() -> Iterator[None]:
    """A common alternative to a logging filter: the record factory stamps ``request_id``."""
    original = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = original(*args, **kwargs)
        record.request_id = "from-the-factory"
        return record

    logging.setLogRecordFactory(factory)
    yield
    logging.setLogRecordFactory(original)


@pytest.mark.parametrize(("path", "status"), [("/conflict", 409), ("/boom", 500), ("/breaker", 503)])
def test_a_record_factory_that_sets_request_id_does_not_break_the_answer(
    record_factory_with_request_id: None, demo: Call, caplog: pytest.LogCaptureFixture, path: str, status: int
) -> None:
    caplog.set_level(logging.INFO, logger="resilience.middleware")
    response = demo("GET", path, headers={"x-request-id": "trace-9"})
    assert response.status_code == status
    assert response.json()["request_id"] == response.headers["x-request-id"] == "trace-9"
    records = [r for r in caplog.records if r.name == "resilience.middleware"]
    assert records and all(r.request_id == "from-the-factory" for r in records)  # type: ignore[attr-defined]


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError(f"__str__ itself failed near {SECRET}")


@pytest.fixture
def unprintable_is_exposed() -> Iterator[None]:
    register_error(UnprintableError, code="UNPRINTABLE", status=422, expose_message=True)
    yield
    unregister_error(UnprintableError)


@pytest.mark.parametrize("accept", ["application/json", "application/problem+json"])
def test_an_answer_that_cannot_be_built_is_the_generic_500(
    unprintable_is_exposed: None, caplog: pytest.LogCaptureFixture, accept: str
) -> None:
    app = FastAPI()

    @app.get("/unprintable")
    async def unprintable() -> None:
        raise UnprintableError()

    add_error_handlers(app, reraise_unhandled=False)
    response = call_app(app, "GET", "/unprintable", headers={"accept": accept, "x-request-id": "r-1"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "INTERNAL_SERVER_ERROR", "message": "Internal Server Error"},
        "request_id": "r-1",
    }
    assert response.headers["x-request-id"] == "r-1" and SECRET not in response.text
    failure = next(r for r in caplog.records if r.levelno == logging.CRITICAL)
    assert "UnprintableError" in failure.getMessage() and "r-1" in failure.getMessage()
    assert failure.exc_info is not None and SECRET in str(failure.exc_info[1])
