"""The embedded Toxiproxy server: a small HTTP/1.1 front for :class:`~.api.Api`, in-loop or in a thread.

``EmbeddedToxiproxy`` speaks Toxiproxy v2.12's API byte for byte where clients look (status codes, JSON
shapes and key order, error bodies, headers), so toxiproxy-python, the Go client and ``toxiproxy-cli`` work
unchanged. Use it from async code with ``await start()`` / ``await stop()``, or from sync code and pytest
with ``EmbeddedToxiproxy.running(port=0)``, which hosts its own event loop in a daemon thread.

``seed`` makes toxicity and jitter draws reproducible: every link gets its own generator seeded from
(seed, proxy name, connection index on that proxy, direction), so the same sequence of connections and
toxics sees the same draws whatever the scheduling.

The HTTP layer keeps connections alive, reads ``Content-Length`` and chunked bodies, answers 301 for
unclean paths (``//proxies``) as gorilla/mux does, and closes idle connections after 60 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import re
import socket
import sys
import threading
from collections.abc import Coroutine, Iterator
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from . import errors
from .api import Api, Request, Response

IDLE_TIMEOUT = 60.0  # seconds a kept-alive connection may wait for its next request
READ_TIMEOUT = 15.0  # seconds to read one request
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class _BadRequest(Exception):
    pass


class EmbeddedToxiproxy:
    """A Toxiproxy-compatible server on ``host:port`` (0 picks a free port; see :attr:`url`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8474, seed: int | None = None) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        self.api = Api(seed)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` with the port actually bound (a wildcard host is reached on 127.0.0.1)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind the API address (one socket; a name binds its first IPv4 address, as Go does) and serve."""
        family, _, _, _, address = _listen_address(self.host, self.port)
        sock = socket.create_server(address, family=family, backlog=512)
        self._server = await asyncio.start_server(self._serve, sock=sock, limit=MAX_HEADER_BYTES)
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        """Stop serving, then stop every proxy and close all their connections."""
        if self._server is not None:
            self._server.close()
            self._server = None
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await self.api.close()

    async def populate_file(self, path: str | Path) -> None:
        """Load a ``-config`` JSON file like ``POST /populate``; problems are reported on stderr only."""
        try:
            body = Path(path).read_bytes()
            await self.api.populate_from(body, [])
        except (OSError, errors.ApiError) as exc:
            print(f"toxiproxy: config {path}: {exc}", file=sys.stderr)

    @classmethod
    @contextlib.contextmanager
    def running(
        cls, host: str = "127.0.0.1", port: int = 0, seed: int | None = None
    ) -> Iterator[EmbeddedToxiproxy]:
        """Run a server in a daemon thread with its own event loop; leaving the block stops it cleanly."""
        server = cls(host, port, seed)
        thread = _LoopThread()
        try:
            thread.call(server.start())
        except BaseException:
            thread.close()
            raise
        try:
            yield server
        finally:
            thread.call(server.stop())
            thread.close()

    async def __aenter__(self) -> EmbeddedToxiproxy:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- HTTP/1.1 ------------------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                try:
                    request_line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
                    if not request_line:
                        return
                    reading = self._read(request_line, reader, writer)
                    request, keep_alive = await asyncio.wait_for(reading, READ_TIMEOUT)
                except (_BadRequest, ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
                    writer.write(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        b"Connection: close\r\n\r\n400 Bad Request"
                    )
                    return
                response = await self._respond(request)
                writer.write(_serialize(response, request.method, keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            return  # a connection handler ends quietly, also when the server stops
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _read(
        self, request_line: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[Request, bool]:
        parts = request_line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest
        method, target, http_version = parts
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise _BadRequest
            headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":  # curl sends this for bodies over 1 KiB
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        else:
            length = int(headers.get("content-length", "0") or 0)
            if not 0 <= length <= MAX_BODY_BYTES:
                raise _BadRequest
            body = await reader.readexactly(length)
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (http_version != "HTTP/1.0" or "keep-alive" in connection)
        path = target.split("?", 1)[0].split("#", 1)[0] or "/"
        if "://" in path:  # absolute-form target
            path = urlsplit(path).path or "/"
        if _BAD_ESCAPE.search(path):
            raise _BadRequest  # Go's URL parser refuses the request before any route sees it
        return Request(method, path, headers, body), keep_alive

    async def _respond(self, request: Request) -> Response:
        clean = _clean_path(request.path)
        if clean != request.path:
            return Response(301, headers={"Location": clean, "Content-Length": "0"})
        request.path = unquote(request.path)
        return await self.api.handle(request)


def _listen_address(host: str, port: int) -> tuple[Any, ...]:
    """The getaddrinfo entry to bind for ``host``, IPv4 first (``""`` means every interface)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return sorted(infos, key=lambda info: info[0] != socket.AF_INET)[0]


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readline()
        if len(body) > MAX_BODY_BYTES:
            raise _BadRequest


def _clean_path(path: str) -> str:
    """gorilla/mux's ``cleanPath``: resolve ``.``/``..`` and double slashes, keeping a trailing slash."""
    if not path.startswith("/"):
        path = "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    clean = "/" + "/".join(parts)
    if path.endswith("/") and clean != "/":
        clean += "/"
    return clean


def _serialize(response: Response, method: str, keep_alive: bool) -> bytes:
    """Status line and headers sorted by name (as Go writes them), then the body."""
    headers = dict(response.headers)
    if response.content_type is not None:
        headers["Content-Type"] = response.content_type
    headers["Date"] = email.utils.formatdate(usegmt=True)
    if response.body or (response.content_type is not None and response.status != 204):
        headers["Content-Length"] = str(len(response.body))
    if not keep_alive:
        headers["Connection"] = "close"
    reason = HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {reason}"] + [f"{k}: {v}" for k, v in sorted(headers.items())]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if method == "HEAD" else head + response.body


class _LoopThread:
    """An event loop running forever in a daemon thread; ``call`` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="embedded-toxiproxy", daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.call(drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()
