"""The app's own exception handlers next to ours, with the middleware in ExceptionMiddleware's place."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.exceptions import WebSocketException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.websockets import WebSocket, WebSocketDisconnect

from resilience.middleware import ErrorHandlingMiddleware, add_error_handlers, get_request_id

from ._app import SECRET


class OutOfStock(Exception):
    """An application error with its own handler."""


class DiscontinuedItem(OutOfStock):
    """Handled by the base class's handler (MRO lookup)."""


class Audited(Exception):
    """Handled by a plain ``def`` handler, which Starlette runs in the thread pool."""


class HandlerBug(Exception):
    """Its handler itself fails."""


def shop(*, handlers_first: bool) -> FastAPI:
    started: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started.append("yes")
        yield

    app = FastAPI(lifespan=lifespan)
    app.state.started = started

    def register() -> None:
        @app.exception_handler(OutOfStock)
        async def out_of_stock(request: Request, exc: OutOfStock) -> JSONResponse:
            return JSONResponse({"kind": type(exc).__name__, "seen_id": get_request_id()}, status_code=409)

        @app.exception_handler(Audited)
        def audited(request: Request, exc: Audited) -> PlainTextResponse:
            return PlainTextResponse(f"audited in {threading.current_thread().name}", status_code=418)

        @app.exception_handler(404)
        async def not_found(request: Request, exc: Exception) -> PlainTextResponse:
            return PlainTextResponse(f"no page at {request.url.path}", status_code=404)

        @app.exception_handler(HandlerBug)
        async def buggy(request: Request, exc: HandlerBug) -> JSONResponse:
            raise RuntimeError(SECRET)

    if handlers_first:
        register()
    add_error_handlers(app)
    if not handlers_first:
        register()

    @app.get("/stock/{kind}")
    async def stock(kind: str) -> None:
        raise DiscontinuedItem() if kind == "discontinued" else OutOfStock()

    @app.get("/audit")
    def audit() -> None:
        raise Audited()

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout")

    @app.get("/gone")
    async def gone() -> None:
        raise HTTPException(404)

    @app.get("/bug")
    async def bug() -> None:
        raise HandlerBug()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        raise WebSocketException(code=4003, reason="not allowed")

    return app


@pytest.fixture(params=[True, False], ids=["handlers-first", "handlers-after"])
def client(request: pytest.FixtureRequest) -> TestClient:
    return TestClient(shop(handlers_first=request.param), raise_server_exceptions=False)


def test_an_app_handler_answers_its_exception_and_sees_the_request_id(client: TestClient) -> None:
    answer = client.get("/stock/plain", headers={"X-Request-ID": "order-42"})
    assert answer.status_code == 409
    assert answer.json() == {"kind": "OutOfStock", "seen_id": "order-42"}
    assert answer.headers["x-request-id"] == "order-42"


def test_a_handler_for_a_base_class_answers_its_subclasses(client: TestClient) -> None:
    answer = client.get("/stock/discontinued")
    assert answer.status_code == 409
    assert answer.json()["kind"] == "DiscontinuedItem"
    assert answer.json()["seen_id"] == answer.headers["x-request-id"]


def test_a_sync_handler_runs_in_the_thread_pool(client: TestClient) -> None:
    answer = client.get("/audit")
    assert answer.status_code == 418
    assert answer.text.startswith("audited in ")
    assert answer.text != f"audited in {threading.current_thread().name}"
    assert "x-request-id" in answer.headers


def test_a_status_handler_wins_for_that_status_in_routes_and_in_the_router(client: TestClient) -> None:
    from_route = client.get("/gone")
    from_router = client.get("/no/such/page")
    assert (from_route.status_code, from_route.text) == (404, "no page at /gone")
    assert (from_router.status_code, from_router.text) == (404, "no page at /no/such/page")
    assert from_router.headers["x-request-id"]


def test_other_http_errors_keep_the_standard_format(client: TestClient) -> None:
    teapot = client.get("/teapot")
    assert teapot.status_code == 418
    assert teapot.json()["error"] == {
        "code": "HTTP_418",
        "message": "I'm a Teapot",
        "detail": "short and stout",
    }
    not_allowed = client.delete("/teapot")
    assert not_allowed.status_code == 405
    assert not_allowed.headers["allow"] == "GET"
    assert not_allowed.json()["error"]["code"] == "HTTP_405"
    assert not_allowed.json()["request_id"] == not_allowed.headers["x-request-id"]


def test_a_failing_app_handler_becomes_a_generic_500(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    answer = client.get("/bug")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "INTERNAL_SERVER_ERROR"
    assert SECRET not in answer.text
    request_id = answer.headers["x-request-id"]
    assert answer.json()["request_id"] == request_id
    logged = [r for r in caplog.records if r.name == "resilience.middleware" and request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], RuntimeError)
    assert isinstance(logged[0].exc_info[1].__context__, HandlerBug)


def test_a_failing_app_handler_is_reraised_for_the_server_log() -> None:
    with pytest.raises(RuntimeError, match=SECRET):
        TestClient(shop(handlers_first=True)).get("/bug")


def test_websockets_and_lifespan_still_go_through_starlette() -> None:
    app = shop(handlers_first=False)
    with TestClient(app) as client:
        assert app.state.started == ["yes"]
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "hello"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (4003, "not allowed")


def test_the_middleware_takes_exception_middlewares_place() -> None:
    app = shop(handlers_first=True)
    TestClient(app).get("/teapot")  # builds the stack
    layers = []
    layer = app.middleware_stack
    while hasattr(layer, "app"):
        layers.append(type(layer))
        layer = layer.app
    assert ErrorHandlingMiddleware in layers
    assert ExceptionMiddleware not in layers


def test_around_anything_else_it_stays_a_layer_of_its_own() -> None:
    async def page(request: Request) -> PlainTextResponse:
        raise OutOfStock()

    inner = Starlette(
        routes=[Route("/", page)], exception_handlers={OutOfStock: lambda r, e: PlainTextResponse("x", 409)}
    )
    wrapped = ErrorHandlingMiddleware(inner)
    assert wrapped.app is inner
    answer = TestClient(wrapped).get("/")
    assert (answer.status_code, answer.text) == (409, "x")
    assert answer.headers["x-request-id"]


def test_websocket_validation_closes_without_echoing_the_input() -> None:
    app = FastAPI()

    @app.websocket("/feed")
    async def feed(websocket: WebSocket, since: int, topic: str) -> None:
        await websocket.accept()

    add_error_handlers(app)
    client = TestClient(app)
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(f"/feed?since={SECRET}"):
        pass
    assert closed.value.code == 1008
    assert closed.value.reason == "VALIDATION_ERROR /since /topic"
