"""Requests per second of a small FastAPI app without and with the error-handling middleware.

Drives the ASGI apps in-process (no sockets, no HTTP client), so the middleware's cost is measured
against the framework alone: the harshest relative comparison, since a real server and network
add fixed costs that dilute it. Throughput is requests per CPU-second of this process
(``time.process_time``), which a busy shared machine disturbs far less than wall-clock time;
wall-clock rps is printed too. Many short rounds run the variants in shuffled order (a fixed order
measurably favours one position); the table shows
the best round's CPU rps (the least disturbed one) and the median wall-clock rps. Bounded: under
a minute by default.

    python bench/middleware.py [--requests 500] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from resilience.errors import CircuitBreakerError
from resilience.middleware import ErrorHandlingMiddleware, add_error_handlers


class Order(BaseModel):
    item: str
    quantity: int


VARIANTS = ("without", "no-op", "with")


def build(variant: str) -> FastAPI:
    """The app bare (``without``), with a do-nothing middleware (``no-op``) or with ours (``with``)."""
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(status_code=404, detail="no such item")

    @app.post("/orders")
    async def orders(order: Order) -> Order:
        return order

    @app.get("/breaker")
    async def breaker() -> None:
        raise CircuitBreakerError(name="db", retry_after=3)

    if variant == "no-op":
        app.add_middleware(_Noop)
    elif variant == "with":
        add_error_handlers(app)
    return app


def scope(method: str, path: str, body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"bench"), (b"accept", b"*/*"), (b"accept-language", b"de-CH,de;q=0.9")]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


async def run(app: FastAPI, method: str, path: str, body: bytes, count: int) -> tuple[float, float, int]:
    """``count`` sequential requests: (requests per CPU-second, per wall-second, last status)."""
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        with contextlib.suppress(Exception):  # Starlette's bare 500 re-raises, for the server
            await app(scope(method, path, body), receive, send)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return count / max(cpu, 1e-9), count / wall, status


CASES: list[tuple[str, str, str, bytes]] = [
    ("success  GET /ok", "GET", "/ok", b""),
    ("error    GET /missing (HTTPException 404)", "GET", "/missing", b""),
    ("error    POST /orders (validation)", "POST", "/orders", b'{"item": 1}'),
    ("error    GET /breaker (CircuitBreakerError)", "GET", "/breaker", b""),
]


async def main(requests: int, rounds: int, emit: Callable[[str], None]) -> None:
    # Expected errors log at WARNING; keep them out of the timing and the terminal.
    logging.getLogger("resilience.middleware").setLevel(logging.CRITICAL)
    apps = {variant: build(variant) for variant in VARIANTS}
    for app in apps.values():  # build the middleware stacks and warm caches
        for _, method, path, body in CASES:
            await run(app, method, path, body, 50)
    emit(f"{requests} sequential in-process ASGI requests per round, {rounds} alternating rounds")
    emit("rps = requests per CPU-second in the best round (median wall-clock rps in brackets)\n")
    emit(f"{'case':<44}" + "".join(f"{v + ' rps':>20}" for v in VARIANTS) + f"{'cost':>8}   statuses")
    for label, method, path, body in CASES:
        cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
        wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
        statuses = {}
        for _ in range(rounds):
            order = list(apps.items())
            random.shuffle(order)  # a fixed order biases whichever variant runs first
            for variant, app in order:
                per_cpu, per_wall, statuses[variant] = await run(app, method, path, body, requests)
                cpu[variant].append(per_cpu)
                wall[variant].append(per_wall)
        cost = (max(cpu["without"]) - max(cpu["with"])) / max(cpu["without"]) * 100
        cells = "".join(f"{f'{max(cpu[v]):,.0f} ({statistics.median(wall[v]):,.0f})':>20}" for v in VARIANTS)
        emit(f"{label:<44}{cells}{cost:>7.1f}%   {statuses['without']} -> {statuses['with']}")
    emit("\ncost = (rps without - rps with) / rps without. 'no-op' adds a do-nothing pure ASGI")
    emit("middleware: its distance from 'without' is this machine's noise floor. The breaker case has")
    emit("no handler without the middleware (Starlette's bare 500, which re-raises).")
    emit("\nthe middleware alone, around a trivial ASGI app (CPU microseconds per request, best round):")
    bare = min([await _isolated(_trivial, requests * 10) for _ in range(rounds)])
    for label, app in (
        ("no-op pure ASGI middleware", _Noop(_trivial)),
        ("ErrorHandlingMiddleware", ErrorHandlingMiddleware(_trivial)),
    ):
        best = min([await _isolated(app, requests * 10) for _ in range(rounds)])
        emit(f"  {label:<30}{best:6.2f} us  ({best - bare:+.2f} us over the bare app)")


async def _trivial(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class _Noop:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


async def _isolated(app: ASGIApp, count: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    template = scope("GET", "/", b"")
    cpu = time.process_time()
    for _ in range(count):
        await app(dict(template), receive, send)
    return (time.process_time() - cpu) / count * 1e6


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per variant per round")
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds (median reported)")
    args = parser.parse_args()
    if args.requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be at least 1")
    asyncio.run(main(args.requests, args.rounds, print))
