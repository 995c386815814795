"""Where the middleware sits: CORS on 500s, started responses, other scopes, setup mistakes."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from resilience.errors import AuthenticationError, CircuitBreakerError, RateLimitedError
from resilience.middleware import (
    ErrorHandlingMiddleware,
    add_error_handlers,
    get_request_id,
    http_exception_handler,
    validation_exception_handler,
)

from ._app import SECRET, make_app
from .conftest import call_app

ORIGIN = {"origin": "https://shop.example.com"}


def cors_app(cors_first: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    @app.get("/breaker")
    async def breaker() -> None:
        raise CircuitBreakerError(retry_after=5)

    if cors_first:
        app.add_middleware(CORSMiddleware, allow_origins=["https://shop.example.com"])
        add_error_handlers(app)
    else:
        add_error_handlers(app)
        app.add_middleware(CORSMiddleware, allow_origins=["https://shop.example.com"])
    return app


@pytest.mark.parametrize("cors_first", [True, False])
@pytest.mark.parametrize(("path", "status"), [("/boom", 500), ("/breaker", 503)])
def test_cors_headers_present_on_error_answers(cors_first: bool, path: str, status: int) -> None:
    response = call_app(cors_app(cors_first), "GET", path, headers=ORIGIN)
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_error_after_response_started_is_reraised_not_answered(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="resilience.middleware")
    app = make_app()

    async def go() -> tuple[int, bytes, BaseException | None]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            try:
                response = await client.get("/stream")
            except RuntimeError as exc:
                return 0, b"", exc
            return response.status_code, response.content, None

    status, content, raised = asyncio.run(go())
    assert raised is not None and SECRET in str(raised)  # the server sees it and drops the connection
    assert status == 0 and content == b""
    assert any("after the response started" in r.getMessage() for r in caplog.records)


def test_unhandled_error_is_reraised_for_the_server_after_answering() -> None:
    with TestClient(make_app()) as client, pytest.raises(RuntimeError, match="connection string"):
        client.get("/boom")
    with TestClient(make_app(reraise_unhandled=False)) as client:
        assert client.get("/boom").status_code == 500
    with TestClient(make_app()) as client:  # expected errors are answered, never re-raised
        assert client.get("/breaker").status_code == 503


def test_pure_asgi_middleware_on_a_plain_starlette_app() -> None:
    async def boom(request: Request) -> PlainTextResponse:
        raise CircuitBreakerError(retry_after=1.5)

    async def missing(request: Request) -> PlainTextResponse:
        raise HTTPException(status_code=404, detail="nope")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    # Inside the app's stack (as user middleware), so the app's outermost 500 handler never sees
    # the errors first; wrapping the finished app from outside would be too late.
    wrapped = Starlette(
        routes=[Route("/boom", boom), Route("/missing", missing), WebSocketRoute("/ws", echo)],
        middleware=[Middleware(ErrorHandlingMiddleware, problem_details=True)],
        exception_handlers={HTTPException: http_exception_handler},
    )
    response = call_app(wrapped, "GET", "/boom")
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    assert response.json()["code"] == "CIRCUIT_OPEN"
    missing_response = call_app(wrapped, "GET", "/missing")
    assert missing_response.json()["detail"] == "nope"
    assert missing_response.headers["content-type"] == "application/problem+json"
    with TestClient(wrapped) as client, client.websocket_connect("/ws") as ws:  # non-HTTP scopes pass through
        assert ws.receive_text() == "hello"


def test_handlers_alone_still_answer_in_format_with_a_request_id() -> None:
    app = FastAPI(
        exception_handlers={
            StarletteHTTPException: http_exception_handler,
            RequestValidationError: validation_exception_handler,
        }
    )

    @app.get("/gone")
    async def gone(page: int = 1) -> None:
        raise HTTPException(status_code=410)

    response = call_app(app, "GET", "/gone", headers={"x-request-id": "given"})
    assert response.json() == {"error": {"code": "HTTP_410", "message": "Gone."}, "request_id": "given"}
    assert response.headers["x-request-id"] == "given"
    invalid = call_app(app, "GET", "/gone?page=x")
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "VALIDATION_ERROR"
    assert invalid.json()["request_id"] == invalid.headers["x-request-id"]


def test_setup_mistakes_are_reported() -> None:
    app = make_app()
    with pytest.raises(RuntimeError, match="already installed"):
        add_error_handlers(app)
    with TestClient(app):
        pass
    started = FastAPI()
    with TestClient(started) as client:
        client.get("/")
    with pytest.raises(RuntimeError, match="before the application starts"):
        add_error_handlers(started)
    with pytest.raises(ValueError, match="validation_status"):
        add_error_handlers(FastAPI(), validation_status=200)


def test_head_and_no_body_statuses() -> None:
    app = FastAPI()

    @app.get("/cached")
    async def cached() -> None:
        raise HTTPException(status_code=304, headers={"ETag": '"v1"'})

    add_error_handlers(app)
    response = call_app(app, "GET", "/cached")
    assert response.status_code == 304 and response.content == b""
    assert response.headers["etag"] == '"v1"' and response.headers["x-request-id"]


@pytest.fixture
def served(caplog: pytest.LogCaptureFixture) -> Iterator[str]:
    """The demo app under a real uvicorn server on a free loopback port."""
    config = uvicorn.Config(make_app(), host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start within 10 s"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_over_a_real_socket_the_server_still_logs(served: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    response = httpx.get(f"{served}/boom", headers={**ORIGIN, "x-request-id": "sock-1"}, timeout=5)
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "INTERNAL_SERVER_ERROR", "message": "An unexpected error occurred."},
        "request_id": "sock-1",
    }
    # Re-raised, so uvicorn logs it too (and, as with Starlette's own 500s, closes that connection).
    assert httpx.get(f"{served}/ok", timeout=5).status_code == 200
    loggers = {r.name for r in caplog.records}
    assert "resilience.middleware" in loggers and "uvicorn.error" in loggers


class _Guard:
    """A pure ASGI middleware that rejects requests without a token, raising a taxonomy error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (b"authorization", b"Bearer ok") not in scope["headers"]:
            raise AuthenticationError(f"no token from {scope.get('client')}")
        await self.app(scope, receive, send)


def test_errors_from_middleware_inside_the_error_middleware_are_answered() -> None:
    app = FastAPI()

    @app.get("/me")
    async def me() -> dict[str, str]:
        raise HTTPException(
            status_code=403, detail={"reason": "suspended", "until": "2030"}, headers={"X-Why": "policy"}
        )

    add_error_handlers(app)
    app.user_middleware.append(Middleware(_Guard))  # after: runs inside the error middleware
    denied = call_app(app, "GET", "/me")
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "UNAUTHENTICATED"
    assert "no token" not in denied.text
    forbidden = call_app(app, "GET", "/me", headers={"authorization": "Bearer ok"})
    assert forbidden.status_code == 403 and forbidden.headers["x-why"] == "policy"
    assert forbidden.json()["error"]["context"] == {"data": {"reason": "suspended", "until": "2030"}}


def test_add_middleware_form_before_cors() -> None:
    # Starlette's HTTPException (the router's 404), not only FastAPI's subclass.
    app = FastAPI(exception_handlers={StarletteHTTPException: http_exception_handler})

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    app.add_middleware(ErrorHandlingMiddleware, reraise_unhandled=False)
    app.add_middleware(CORSMiddleware, allow_origins=["*"])  # inserted outermost: wraps ours
    response = call_app(app, "GET", "/boom", headers=ORIGIN)
    assert response.status_code == 500 and response.headers["access-control-allow-origin"] == "*"
    assert SECRET not in response.text
    assert call_app(app, "GET", "/nowhere").json()["error"]["code"] == "HTTP_404"


class _RateLimit:
    """A pure ASGI middleware that refuses ``/limited`` with a taxonomy error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/limited":
            raise RateLimitedError(f"client {SECRET} over quota", retry_after=4.2)
        await self.app(scope, receive, send)


def layered_app(seen: list[str | None]) -> FastAPI:
    """add_error_handlers first, then an access log, a rate limiter and CORS added outside it."""
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, str | None]:
        return {"id": get_request_id()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    @app.get("/needs-page")
    async def needs_page(page: int) -> None:
        return None

    add_error_handlers(app)

    @app.middleware("http")
    async def access_log(request: Request, call_next: Any) -> Any:
        seen.append(get_request_id())
        if request.url.path == "/mw-boom":
            raise RuntimeError(f"access log broke on {SECRET}")
        response = await call_next(request)
        seen.append(get_request_id())
        return response

    app.add_middleware(_RateLimit)
    app.add_middleware(CORSMiddleware, allow_origins=["https://shop.example.com"], allow_methods=["*"])
    return app


def test_outer_middleware_sees_the_request_id() -> None:
    seen: list[str | None] = []
    response = call_app(layered_app(seen), "GET", "/ok", headers={"x-request-id": "mw-1"})
    assert response.json() == {"id": "mw-1"}
    assert response.headers.get_list("x-request-id") == ["mw-1"]
    assert seen == ["mw-1", "mw-1"]


def test_errors_raised_by_outer_middleware_are_answered(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="resilience.middleware")
    app = layered_app([])
    broken = call_app(app, "GET", "/mw-boom", headers={"x-request-id": "mw-2"})
    assert broken.status_code == 500
    assert broken.json() == {
        "error": {"code": "INTERNAL_SERVER_ERROR", "message": "An unexpected error occurred."},
        "request_id": "mw-2",
    }
    assert broken.headers["x-request-id"] == "mw-2"
    limited = call_app(app, "GET", "/limited", headers={"accept-language": "de"})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "5"
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert limited.headers["content-language"] == "de"
    assert SECRET not in broken.text + limited.text
    records = [r for r in caplog.records if r.name == "resilience.middleware"]
    assert [r.levelno for r in records] == [logging.ERROR, logging.INFO]  # RATE_LIMITED is expected
    assert "mw-2" in records[0].getMessage()


def test_app_errors_are_still_answered_inside_cors_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="resilience.middleware")
    response = call_app(layered_app([]), "GET", "/boom", headers=ORIGIN)
    assert response.status_code == 500
    assert response.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert response.headers.get_list("x-request-id") == [response.json()["request_id"]]
    records = [r for r in caplog.records if r.name == "resilience.middleware"]
    assert len(records) == 1 and "unhandled RuntimeError" in records[0].getMessage()


def test_answers_of_outer_middleware_carry_the_id() -> None:
    preflight = call_app(
        layered_app([]),
        "OPTIONS",
        "/ok",
        headers={**ORIGIN, "access-control-request-method": "GET", "x-request-id": "pre-1"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert preflight.headers["x-request-id"] == "pre-1"


def test_a_mounted_app_with_its_own_handlers_shares_the_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="resilience.middleware")
    seen: list[str | None] = []
    parent = layered_app(seen)
    reports = FastAPI()

    @reports.get("/daily")
    async def daily(day: int) -> dict[str, str | None]:
        return {"id": get_request_id()}

    @reports.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    add_error_handlers(reports, problem_details=True)
    parent.mount("/reports", reports)
    fine = call_app(parent, "GET", "/reports/daily?day=1")
    assert fine.json() == {"id": fine.headers["x-request-id"]} and seen[-1] == fine.headers["x-request-id"]
    invalid = call_app(parent, "GET", "/reports/daily?day=x", headers={"x-request-id": "sub-1"})
    assert invalid.status_code == 400 and invalid.headers["content-type"] == "application/problem+json"
    assert invalid.json()["request_id"] == "sub-1"
    assert invalid.json()["errors"][0]["pointer"] == "/day"
    assert invalid.headers.get_list("x-request-id") == ["sub-1"]
    crashed = call_app(parent, "GET", "/reports/boom")
    assert crashed.status_code == 500 and crashed.json()["request_id"] == crashed.headers["x-request-id"]
    records = [r for r in caplog.records if r.name == "resilience.middleware" and r.levelno >= logging.ERROR]
    assert len(records) == 1 and "after the response started" not in records[0].getMessage()


def test_an_error_before_the_first_chunk_behind_gzip_is_answered_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """GZip holds the response start back, so the outer layer can still answer what the inner saw start."""
    caplog.set_level(logging.INFO, logger="resilience.middleware")
    app = FastAPI()

    @app.get("/report")
    async def report() -> StreamingResponse:
        async def rows() -> AsyncIterator[bytes]:
            raise RuntimeError(SECRET)
            yield b""  # pragma: no cover - makes this an async generator

        return StreamingResponse(rows())

    add_error_handlers(app, reraise_unhandled=False)
    app.add_middleware(GZipMiddleware, minimum_size=10)
    response = call_app(app, "GET", "/report", headers={"accept-encoding": "gzip"})
    assert response.status_code == 500 and response.json()["error"]["code"] == "INTERNAL_SERVER_ERROR"
    records = [r for r in caplog.records if r.name == "resilience.middleware"]
    assert len(records) == 1 and records[0].exc_info is not None


def test_a_reraised_error_names_the_request_for_the_server_log() -> None:
    app = cors_app(cors_first=True)
    with TestClient(app) as client, pytest.raises(RuntimeError) as raised:
        client.get("/boom", headers={"x-request-id": "note-1"})
    assert raised.value.__notes__ == ["request_id: note-1"]
    with TestClient(app) as client, pytest.raises(RuntimeError) as again:
        client.get("/boom", headers={"x-request-id": "note-2"})
    assert again.value.__notes__ == ["request_id: note-2"]


def test_a_body_over_the_apps_limit_is_not_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="resilience.middleware")
    app = FastAPI(max_body_size=16)

    @app.post("/notes")
    async def notes(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    add_error_handlers(app)
    response = call_app(app, "POST", "/notes", content=b"x" * 64)
    assert response.status_code == 413
    assert [
        r for r in caplog.records if r.name == "resilience.middleware" and r.levelno >= logging.ERROR
    ] == []


def test_http_exceptions_are_logged_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="resilience.middleware")
    app = FastAPI()

    @app.get("/maintenance")
    async def maintenance() -> None:
        raise HTTPException(status_code=503, detail="back at noon")

    add_error_handlers(app)
    response = call_app(app, "GET", "/maintenance", headers={"x-request-id": "h-503"})
    assert response.status_code == 503 and "back at noon" not in response.text
    call_app(app, "GET", "/nowhere")
    levels = [
        (r.levelno, r.getMessage(), r.exc_info) for r in caplog.records if r.name == "resilience.middleware"
    ]
    assert levels == [
        (logging.WARNING, "HTTP 503 on GET /maintenance [request_id=h-503]", None),
        (logging.DEBUG, levels[1][1], None),
    ]
    assert levels[1][1].startswith("HTTP 404 on GET /nowhere")


def test_handlers_the_app_registered_before_stay() -> None:
    app = FastAPI()

    @app.exception_handler(StarletteHTTPException)
    async def own(request: Request, exc: StarletteHTTPException) -> PlainTextResponse:
        return PlainTextResponse(f"own {exc.status_code}", status_code=exc.status_code)

    @app.get("/needs-page")
    async def needs_page(page: int) -> None:
        return None

    add_error_handlers(app)
    missing = call_app(app, "GET", "/nowhere")
    assert (missing.status_code, missing.text) == (404, "own 404")
    assert missing.headers["x-request-id"]
    invalid = call_app(app, "GET", "/needs-page?page=x")  # FastAPI's default was replaced by ours
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "VALIDATION_ERROR"
