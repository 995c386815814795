"""Request ids: accepted when well formed, minted otherwise, on every response and in log records."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI, HTTPException, Response
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from resilience.middleware import ErrorHandlingMiddleware, RequestIdFilter, add_error_handlers, get_request_id

from ._app import make_app
from .conftest import Call, call_app


@pytest.mark.parametrize(
    "incoming", ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace:1/2+3=.x_y", "a" * 128]
)
def test_well_formed_id_is_echoed(demo: Call, incoming: str) -> None:
    for path in ("/ok", "/boom", "/items/404"):
        response = demo("GET", path, headers={"x-request-id": incoming})
        assert response.headers["x-request-id"] == incoming
        if response.status_code >= 400:
            assert response.json()["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming", ["", "a" * 129, "has space", "semi;colon", "<script>", "-leading-dash", "ünïcode"]
)
def test_malformed_id_is_replaced(demo: Call, incoming: str) -> None:
    response = demo("GET", "/items/404", headers={"x-request-id": incoming.encode("utf-8")})
    minted = response.headers["x-request-id"]
    assert minted != incoming and len(minted) == 32 and int(minted, 16) >= 0
    assert response.json()["request_id"] == minted


def test_every_request_gets_its_own_id(demo: Call) -> None:
    ids = {demo("GET", "/ok").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_untrusted_and_renamed_header() -> None:
    app = make_app(trust_request_id=False, request_id_header="X-Correlation-ID")
    response = call_app(app, "GET", "/ok", headers={"x-correlation-id": "from-client"})
    assert response.headers["x-correlation-id"] != "from-client"
    assert "x-request-id" not in response.headers
    with pytest.raises(ValueError, match="request_id_header"):
        make_app(request_id_header="X Bad: header")


def test_request_id_reaches_application_log_records(demo: Call, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="demo.app")
    caplog.handler.addFilter(RequestIdFilter())
    try:
        demo("GET", "/ok", headers={"x-request-id": "req-42"})
    finally:
        caplog.handler.removeFilter(caplog.handler.filters[-1])
    record = next(r for r in caplog.records if r.name == "demo.app")
    assert record.request_id == "req-42"  # type: ignore[attr-defined]


def test_outside_a_request_there_is_no_id() -> None:
    assert get_request_id() is None
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)
    RequestIdFilter().filter(record)
    assert record.request_id == "-"  # type: ignore[attr-defined]


def _app_with_own_ids() -> FastAPI:
    app = FastAPI()
    shared = PlainTextResponse("shared")  # one response object answered on every request

    @app.get("/own")
    async def own(response: Response) -> dict[str, str]:
        response.headers["X-Request-ID"] = "chosen-by-app"
        return {"status": "ok"}

    @app.get("/own-error")
    async def own_error() -> None:
        raise HTTPException(status_code=409, detail="taken", headers={"X-Request-ID": "chosen-by-app"})

    @app.get("/shared")
    async def reused() -> Response:
        return shared

    add_error_handlers(app)
    return app


@pytest.mark.parametrize(("path", "status"), [("/own", 200), ("/own-error", 409)])
def test_id_set_by_the_app_is_kept_and_not_doubled(path: str, status: int) -> None:
    response = call_app(_app_with_own_ids(), "GET", path, headers={"x-request-id": "from-client"})
    assert response.status_code == status
    assert response.headers.get_list("x-request-id") == ["chosen-by-app"]


def test_pure_middleware_sees_the_apps_id_in_any_case() -> None:
    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/plain"), (b"X-Request-ID", b"raw-app")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    response = call_app(ErrorHandlingMiddleware(raw), "GET", "/")
    assert response.headers.get_list("x-request-id") == ["raw-app"]
    assert response.text == "ok"


def test_a_reused_response_object_gets_a_fresh_id_each_time() -> None:
    app = _app_with_own_ids()
    ids = [call_app(app, "GET", "/shared").headers.get_list("x-request-id") for _ in range(3)]
    assert all(len(one) == 1 for one in ids)
    assert len({one[0] for one in ids}) == 3
