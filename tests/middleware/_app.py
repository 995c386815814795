"""A demo FastAPI app with one route per error path, shared by the middleware tests."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from typing import Annotated, Literal

import httpx
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, field_validator

from resilience.errors import (
    CircuitBreakerError,
    ConflictError,
    RateLimitedError,
    ResilienceError,
    RetryBudgetExhaustedError,
    RetryError,
    UpstreamTimeoutError,
)
from resilience.middleware import add_error_handlers

SECRET = "sk_live_4242_TOP_SECRET"
app_logger = logging.getLogger("demo.app")


class Order(BaseModel):
    item: str = Field(min_length=1, max_length=20)
    quantity: int = Field(gt=0, le=100)
    colour: Literal["red", "blue"] = "red"
    coupon: str | None = None

    @field_validator("coupon")
    @classmethod
    def coupon_known(cls, value: str | None) -> str | None:
        if value is not None and value != "WELCOME":
            raise ValueError(f"unknown coupon {value!r}")  # quotes the input: must not be echoed
        return value


class OrderLocked(ResilienceError):
    """An application error type with client-facing messages."""

    code = "ORDER_LOCKED"
    http_status = 423
    expose_message = True


def make_app(**options: object) -> FastAPI:
    """The demo app with ``add_error_handlers(app, **options)`` installed."""
    app = FastAPI(title="demo")

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        app_logger.info("handled ok")
        return {"status": "ok"}

    @app.post("/orders")
    async def create_order(order: Order) -> Order:
        return order

    @app.get("/search")
    async def search(limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, int]:
        return {"limit": limit}

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        if item_id == 404:
            raise HTTPException(status_code=404, detail="Item 404 does not exist")
        if item_id == 503:
            raise HTTPException(status_code=503, detail=f"db at 10.0.0.7 down, key {SECRET}")
        return {"item_id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"connection string postgresql://admin:{SECRET}@db/prod")

    @app.get("/sql")
    def sql() -> None:
        with sqlite3.connect(":memory:") as conn:
            conn.execute(f"SELECT * FROM users WHERE token = '{SECRET}'")

    @app.get("/breaker")
    async def breaker(retry_after: float = 2.3) -> None:
        raise CircuitBreakerError(name=f"payments-{SECRET}", state="OPEN", retry_after=retry_after)

    @app.get("/retry")
    async def retry_gave_up() -> None:
        raise RetryError(f"gave up calling http://internal:{SECRET}")

    @app.get("/upstream-timeout")
    async def upstream_timeout() -> None:
        raise UpstreamTimeoutError("last attempt timed out")

    @app.get("/budget")
    async def budget() -> None:
        raise RetryBudgetExhaustedError()

    @app.get("/rate-limited")
    async def rate_limited() -> None:
        raise RateLimitedError(retry_after=0.2)

    @app.get("/conflict")
    async def conflict() -> None:
        raise ConflictError(f"row version clash for {SECRET}")

    @app.get("/locked")
    async def locked() -> None:
        raise OrderLocked("order 7 is locked while it ships")

    @app.get("/upstream")
    async def upstream(url: str) -> None:
        async with httpx.AsyncClient(timeout=0.3) as client:
            await client.get(url)

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield b"first chunk\n"
            raise RuntimeError(f"broke mid-stream {SECRET}")

        return StreamingResponse(chunks(), media_type="text/plain")

    add_error_handlers(app, **options)  # type: ignore[arg-type]
    return app
