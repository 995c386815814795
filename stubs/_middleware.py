"""The pure-ASGI middleware that records every request and acts on the fault engine's decision.

Dropping a connection needs the socket, which ASGI does not expose: the stubs' server
(:mod:`stubs.server`) puts the asyncio transport in ``scope["extensions"][TRANSPORT_EXTENSION]``.
Closing it before any byte is written is a real "connection closed without response"; with
``SO_LINGER`` set to 0 the close becomes a TCP reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stubs._faults import Action, FaultEngine
from stubs.behaviour import BodyFault, DropMode, Fault
from stubs.recorder import RequestRecorder

__all__ = ["EXEMPT_PREFIXES", "TRANSPORT_EXTENSION", "FaultMiddleware"]

TRANSPORT_EXTENSION = "stubs.transport"
EXEMPT_PREFIXES = ("/_admin", "/health")
"""Paths never faulted nor recorded, so a stub can always be controlled and probed."""

_Headers = list[tuple[bytes, bytes]]
_HEALTHY = Fault()
_OUTCOMES = {None: "ok", BodyFault.TRUNCATE: "truncated", BodyFault.MALFORMED: "malformed"}


class FaultMiddleware:
    """Records each request, then delays, fails, drops or breaks it as the engine decides."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        engine: FaultEngine,
        recorder: RequestRecorder,
        route_of: Callable[[Scope], str],
    ) -> None:
        self.app = app
        self.service = service
        self.engine = engine
        self.recorder = recorder
        self.route_of = route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id")
        record = self.recorder.arrived(scope["method"], scope["path"], self.route_of(scope), request_id)
        started = time.perf_counter()

        def finish(status: int | None, outcome: str) -> None:
            # Called before the last byte goes out, so a client that reads the records right after
            # its response sees this request complete.
            record.status, record.outcome = status, outcome
            record.duration_ms = round((time.perf_counter() - started) * 1000.0, 3)

        try:
            await self._serve(scope, receive, send, request_id, finish)
        finally:
            if record.outcome == "pending":
                finish(record.status, "failed")

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str | None,
        finish: Callable[[int | None, str], None],
    ) -> None:
        decision = self.engine.decide(scope["path"])
        fault = _HEALTHY if decision is None else decision.fault
        if decision is not None and decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        if decision is not None and decision.action is Action.DROP:
            finish(None, "dropped")
            await _drop(scope, receive, fault.drop_mode)
            return
        if decision is not None and decision.action is Action.ERROR:
            assert decision.status is not None
            status, headers, body = self._error(decision.status, fault, request_id)
            await _emit(
                scope, receive, send, (status, headers, body), fault, None, lambda: finish(status, "error")
            )
            return
        status, headers, body = await _buffer(self.app, scope, receive)
        if request_id is not None:
            headers.append((b"x-request-id", request_id.encode("latin-1")))
        outcome = _OUTCOMES[fault.body_fault]
        await _emit(
            scope,
            receive,
            send,
            (status, headers, body),
            fault,
            fault.body_fault,
            lambda: finish(status, outcome),
        )

    def _error(self, status: int, fault: Fault, request_id: str | None) -> tuple[int, _Headers, bytes]:
        body = fault.error_body
        if body is None:
            body = {
                "error": {"code": "INJECTED_FAULT", "message": f"{self.service} injected HTTP {status}"},
                "request_id": request_id,
            }
        if isinstance(body, str):
            payload, content_type = body.encode(), b"text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(body).encode(), b"application/json"
        headers: _Headers = [(b"content-type", content_type)]
        if fault.retry_after_s is not None:
            headers.append((b"retry-after", str(fault.retry_after_s).encode()))
        if request_id is not None:
            headers.append((b"x-request-id", request_id.encode("latin-1")))
        return status, headers, payload


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _buffer(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, _Headers, bytes]:
    """Run the real handler and collect its whole response (stub payloads are small)."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    return int(start.get("status", 500)), headers, b"".join(chunks)


async def _emit(
    scope: Scope,
    receive: Receive,
    send: Send,
    response: tuple[int, _Headers, bytes],
    fault: Fault,
    body_fault: BodyFault | None,
    before_last_write: Callable[[], None],
) -> None:
    """Send a response with the fault's header delay and drip, breaking its body if asked."""
    status, headers, body = response
    if fault.headers_delay_ms:
        await asyncio.sleep(fault.headers_delay_ms / 1000.0)
    declared = len(body)
    if body_fault is not None:
        body = body[: len(body) // 2]
        if body_fault is BodyFault.MALFORMED:
            declared = len(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(declared).encode())],
        }
    )
    chunk = fault.slow_body.chunk_bytes if fault.slow_body else max(len(body), 1)
    interval = fault.slow_body.interval_ms / 1000.0 if fault.slow_body else 0.0
    pieces = [body[offset : offset + chunk] for offset in range(0, len(body), chunk)] or [b""]
    for index, piece in enumerate(pieces):
        if index:
            await asyncio.sleep(interval)
        last = index == len(pieces) - 1
        if last:
            before_last_write()
        complete = last and body_fault is not BodyFault.TRUNCATE
        await send({"type": "http.response.body", "body": piece, "more_body": not complete})
    if body_fault is BodyFault.TRUNCATE:
        await _drop(scope, receive, DropMode.CLOSE)


async def _drop(scope: Scope, receive: Receive, mode: DropMode) -> None:
    transport = scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
    if transport is None:
        raise RuntimeError("dropping a connection needs the stubs server (stubs.server.StubServer)")
    if mode is DropMode.RESET:
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.close()
    # Wait until the server has seen the connection go, so it does not try to answer on it.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            while (await receive())["type"] != "http.disconnect":
                pass
