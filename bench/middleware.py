"""CPU cost per request of a small FastAPI app without and with the error-handling middleware.

Drives the ASGI apps in-process (no sockets, no HTTP client), so the middleware's cost is measured
against the framework alone: the harshest relative comparison, since a real server and network
add fixed costs that dilute it. Time is CPU time of this process (``time.process_time``).

On a shared or virtual machine the speed of the same code drifts by a factor of two within seconds,
so comparing the best (or median) round of each variant measures the drift as much as the
middleware. Each round therefore runs a short block of requests on every variant back to back, in
shuffled order, and the cost is the median over rounds of the paired ratio ``with / without - 1``:
both sides of a pair see the same machine. "no-op" is a do-nothing pure ASGI middleware, the floor
for any middleware. Bounded: well under a minute by default.

    python bench/middleware.py [--block 25] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy

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


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: Message) -> None:
    return None


async def block(app: ASGIApp, method: str, path: str, body: bytes, count: int) -> tuple[float, int]:
    """``count`` sequential requests: (CPU microseconds per request, last status)."""
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    cpu = time.process_time()
    for _ in range(count):
        with contextlib.suppress(Exception):  # Starlette's bare 500 re-raises, for the server
            await app(scope(method, path, body), receive, send)
    return (time.process_time() - cpu) / count * 1e6, status


async def _isolated(app: ASGIApp, count: int) -> float:
    """CPU microseconds per request of ``app`` answering a bare ``GET /``."""
    template = scope("GET", "/", b"")
    cpu = time.process_time()
    for _ in range(count):
        await app(dict(template), _receive, _discard)
    return (time.process_time() - cpu) / count * 1e6


def _paired(times: dict[str, list[float]], variant: str, base: str) -> tuple[float, float, float]:
    """Median and quartiles of the per-round ratio ``variant / base - 1``, in percent."""
    ratios = [(v / b - 1) * 100 for v, b in zip(times[variant], times[base], strict=True)]
    low, median, high = statistics.quantiles(ratios, n=4)
    return median, low, high


CASES: list[tuple[str, str, str, bytes]] = [
    ("success  GET /ok", "GET", "/ok", b""),
    ("error    GET /missing (HTTPException 404)", "GET", "/missing", b""),
    ("error    POST /orders (validation)", "POST", "/orders", b'{"item": 1}'),
    ("error    GET /breaker (CircuitBreakerError)", "GET", "/breaker", b""),
]


async def main(size: int, rounds: int, emit: Callable[[str], None]) -> None:
    # Expected errors log at WARNING; keep them out of the timing and the terminal.
    logging.getLogger("resilience.middleware").setLevel(logging.CRITICAL)
    apps = {variant: build(variant) for variant in VARIANTS}
    for app in apps.values():  # build the middleware stacks and warm caches
        for _, method, path, body in CASES:
            await block(app, method, path, body, 50)
    emit(f"{rounds} rounds of {size} sequential in-process ASGI requests per variant, shuffled order")
    emit("us = median CPU microseconds per request; cost = median paired (variant / without - 1)\n")
    emit(
        f"{'case':<44}{'without us':>11}{'no-op us':>10}{'with us':>9}"
        f"{'no-op cost':>12}{'with cost (IQR)':>24}   statuses"
    )
    for label, method, path, body in CASES:
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        statuses = {}
        for _ in range(rounds):
            order = list(apps.items())
            random.shuffle(order)  # a fixed order biases whichever variant runs first
            for variant, app in order:
                per_request, statuses[variant] = await block(app, method, path, body, size)
                times[variant].append(per_request)
        noop, _, _ = _paired(times, "no-op", "without")
        cost, low, high = _paired(times, "with", "without")
        cells = "".join(
            f"{statistics.median(times[v]):>{w}.1f}" for v, w in zip(VARIANTS, (11, 10, 9), strict=True)
        )
        spread = f"{cost:+.1f}% ({low:+.1f}..{high:+.1f})"
        emit(f"{label:<44}{cells}{noop:>+11.1f}%{spread:>24}   {statuses['without']} -> {statuses['with']}")
    emit("\nThe breaker case has no handler without the middleware (Starlette's bare 500, which re-raises).")
    emit("\nthe middleware alone around a trivial ASGI app (median paired CPU us per request over it):")
    alone: dict[str, ASGIApp] = {
        "bare app": _trivial,
        "no-op pure ASGI middleware": _Noop(_trivial),
        "ErrorHandlingMiddleware": ErrorHandlingMiddleware(_trivial),
    }
    spent: dict[str, list[float]] = {label: [] for label in alone}
    for _ in range(rounds // 4):
        for label, inner in alone.items():
            spent[label].append(await _isolated(inner, size * 20))
    for label in list(alone)[1:]:
        extra = statistics.median(t - b for t, b in zip(spent[label], spent["bare app"], strict=True))
        emit(f"  {label:<30}{extra:+6.2f} us")


async def _trivial(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class _Noop:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", type=int, default=25, help="requests per variant per round")
    parser.add_argument("--rounds", type=int, default=200, help="paired rounds (median reported)")
    args = parser.parse_args()
    if args.block < 1 or args.rounds < 4:
        parser.error("--block must be at least 1 and --rounds at least 4")
    asyncio.run(main(args.block, args.rounds, print))
