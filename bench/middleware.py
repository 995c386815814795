"""CPU cost per request of a small FastAPI app without and with the error-handling middleware.

Drives the ASGI apps in-process (no sockets, no HTTP client), so the middleware's cost is measured
against the framework alone: the harshest relative comparison, since a real server and network
add fixed costs that dilute it. Time is CPU time of this process (``time.process_time``).

On a shared or virtual machine the speed of the same code drifts by a factor of two within seconds,
so comparing the best (or median) round of each variant measures the drift as much as the
middleware. Each round therefore runs a short block of requests on every variant back to back, in
shuffled order, and the cost is the median over rounds of the paired ratio ``with / without - 1``:
both sides of a pair see the same machine. "no-op" is a do-nothing pure ASGI middleware, the floor
for any middleware.

The second table is what a user measures: requests per second over HTTP. Each variant is served by
its own uvicorn process on loopback (httptools and uvloop when installed, as in production), driven
by a raw-socket keep-alive client on several connections so that the server, not the client, is
the bottleneck; rounds are paired as above, and each server's CPU time per request is read from the
server itself (its ``time.process_time()`` between blocks). Bounded: rounds x block requests per
variant and case; about five minutes for both tables by default.

    python bench/middleware.py [--block 25] [--rounds 200] [--http-rounds 300] [--http-block 240] [--cors]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
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
    """The app bare (``without``), with a do-nothing middleware (``no-op``) or with ours (``with``).

    A ``+cors`` suffix adds CORS as well: an app with other middleware, where ``add_error_handlers``
    puts a second layer outermost.
    """
    variant, _, extra = variant.partition("+")
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
    if extra == "cors":
        app.add_middleware(CORSMiddleware, allow_origins=["https://bench.example"])
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


async def main(size: int, rounds: int, emit: Callable[[str], None], extra: str = "") -> None:
    # Expected errors log at WARNING; keep them out of the timing and the terminal.
    logging.getLogger("resilience.middleware").setLevel(logging.CRITICAL)
    apps = {variant: build(variant + extra) for variant in VARIANTS}
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


_SERVE = """
import sys, time, uvicorn
sys.path.insert(0, {bench!r})
from middleware import build
app = build({variant!r})

@app.get("/_cpu")
def cpu() -> float:  # the server's own CPU clock, read between blocks
    return time.process_time()

uvicorn.run(app, fd={fd}, log_level="warning", access_log=False)
"""
_REQUEST = b"GET /ok HTTP/1.1\r\nhost: bench\r\naccept-language: de-CH,de;q=0.9\r\n\r\n"
HTTP_CASES = [
    ("success GET /ok", _REQUEST),
    ("error GET /missing", _REQUEST.replace(b"/ok", b"/missing")),  # HTTPException 404
]
_CONNECTIONS = 8


def _serve(variant: str) -> tuple[subprocess.Popen[bytes], int]:
    """A uvicorn process serving ``variant`` on a loopback socket bound here (no port race)."""
    listener = socket.create_server(("127.0.0.1", 0))
    # Accepted sockets inherit it: without, Nagle + delayed ACK stall every answer by ~40 ms.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    code = _SERVE.format(bench=str(Path(__file__).resolve().parent), variant=variant, fd=listener.fileno())
    process = subprocess.Popen([sys.executable, "-c", code], pass_fds=[listener.fileno()])
    port = listener.getsockname()[1]
    listener.close()  # the child holds its own copy
    return process, port


async def _connection(port: int, count: int, request: bytes = _REQUEST) -> bytes:
    """``count`` sequential keep-alive requests on one connection, each answered 200 or 404; the last body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b""
    try:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if head[:12] not in (b"HTTP/1.1 200", b"HTTP/1.1 404"):
                raise RuntimeError(f"unexpected answer: {head[:40]!r}")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await reader.readexactly(length)
    finally:
        writer.close()
    return body


async def _server_cpu(port: int) -> float:
    """The server process's CPU seconds so far (its ``time.process_time()``)."""
    return float(await _connection(port, 1, b"GET /_cpu HTTP/1.1\r\nhost: bench\r\n\r\n"))


async def _wait_ready(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            await _connection(port, 1)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the uvicorn server on port {port} did not start") from None
            await asyncio.sleep(0.05)


async def _http_rounds(
    servers: dict[str, tuple[subprocess.Popen[bytes], int]], request: bytes, size: int, rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Paired shuffled rounds of ``request``: req/s and server CPU us per request, per variant."""
    rates: dict[str, list[float]] = {v: [] for v in servers}
    cpu: dict[str, list[float]] = {v: [] for v in servers}
    per_connection = max(1, size // _CONNECTIONS)
    count = per_connection * _CONNECTIONS
    for _ in range(rounds):
        order = list(servers.items())
        random.shuffle(order)
        for variant, (_, port) in order:
            before, started = await _server_cpu(port), time.perf_counter()
            await asyncio.gather(*(_connection(port, per_connection, request) for _ in range(_CONNECTIONS)))
            elapsed = time.perf_counter() - started
            cpu[variant].append((await _server_cpu(port) - before) / count * 1e6)
            rates[variant].append(count / elapsed)
    return rates, cpu


async def over_http(size: int, rounds: int, emit: Callable[[str], None], extra: str = "") -> None:
    servers = {variant: _serve(variant + extra) for variant in VARIANTS}
    results = {}
    try:
        for process, port in servers.values():
            await _wait_ready(process, port)
            await asyncio.gather(*(_connection(port, 100) for _ in range(_CONNECTIONS)))  # warm up
        for label, request in HTTP_CASES:
            results[label] = await _http_rounds(servers, request, size, rounds)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(10)
    production = all(importlib.util.find_spec(name) for name in ("uvloop", "httptools"))
    stack = "uvloop + httptools" if production else "asyncio + h11"
    count = max(1, size // _CONNECTIONS) * _CONNECTIONS
    emit(f"\nover HTTP: uvicorn ({stack}) on loopback, {_CONNECTIONS} keep-alive connections,")
    emit(f"{rounds} paired rounds of {count} requests per variant and case, shuffled order")
    emit("req/s and server CPU us per request are medians; costs are median paired ratios (IQR)\n")
    emit(f"{'case':<22}{'variant':<10}{'req/s':>8}{'rate cost':>26}{'CPU us':>9}{'CPU cost':>26}")
    for label, (rates, cpu) in results.items():
        for variant in VARIANTS:
            slower = [b / v for v, b in zip(rates[variant], rates["without"], strict=True)]
            dearer = [v / b for v, b in zip(cpu[variant], cpu["without"], strict=True)]
            emit(
                f"{label:<22}{variant:<10}{statistics.median(rates[variant]):>8.0f}{_spread(slower):>26}"
                f"{statistics.median(cpu[variant]):>9.1f}{_spread(dearer):>26}"
            )


def _spread(ratios: list[float]) -> str:
    """Median and quartiles of ``ratio - 1`` in percent; blank for the baseline's own column."""
    if all(r == 1 for r in ratios):
        return ""
    low, median, high = statistics.quantiles([(r - 1) * 100 for r in ratios], n=4)
    return f"{median:+.1f}% ({low:+.1f}..{high:+.1f})"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", type=int, default=25, help="requests per variant per round")
    parser.add_argument("--rounds", type=int, default=200, help="paired rounds (median reported)")
    parser.add_argument("--http-block", type=int, default=240, help="HTTP requests per variant per round")
    parser.add_argument("--http-rounds", type=int, default=300, help="paired HTTP rounds; 0 skips HTTP")
    parser.add_argument("--cors", action="store_true", help="add CORSMiddleware to every variant")
    parser.add_argument(
        "--only",
        metavar="VARIANT",
        help="just run --block GET /ok requests on one variant (e.g. with+cors), for an instruction counter",
    )
    args = parser.parse_args()
    if args.only:
        asyncio.run(block(build(args.only), "GET", "/ok", b"", args.block))
        sys.exit(0)
    if args.block < 1 or args.rounds < 4 or args.http_block < _CONNECTIONS:
        parser.error(f"--block must be at least 1, --rounds at least 4, --http-block at least {_CONNECTIONS}")
    if 0 < args.http_rounds < 4:
        parser.error("--http-rounds must be 0 (skip) or at least 4")
    extra = "+cors" if args.cors else ""
    if args.cors:
        print("every variant also has CORSMiddleware: add_error_handlers puts a second layer outermost\n")
    asyncio.run(main(args.block, args.rounds, print, extra))
    if args.http_rounds:
        asyncio.run(over_http(args.http_block, args.http_rounds, print, extra))
