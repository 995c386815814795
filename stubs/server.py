"""Serve an ASGI app with uvicorn in a background thread with its own event loop.

The listening socket is bound before uvicorn starts, so ``port=0`` gives a free port that is
known at once (``server.port``) with no race. The HTTP protocol is uvicorn's h11 one, extended to
put each connection's asyncio transport in ``scope["extensions"]["stubs.transport"]``: that is
how a stub really drops a connection (see :mod:`stubs._middleware`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from stubs._middleware import TRANSPORT_EXTENSION

__all__ = ["GRACEFUL_SHUTDOWN_S", "StubServer"]

GRACEFUL_SHUTDOWN_S = 2
"""Seconds in-flight requests get on stop before they are cancelled (a stub may be mid-delay)."""


class _ShutdownCancellationFilter(logging.Filter):
    """Drop uvicorn's traceback for requests cancelled at shutdown (a stub mid-delay, by design);
    uvicorn's own one-line "Cancel N running task(s)" notice stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)


_UVICORN_LOG = logging.getLogger("uvicorn.error")
if not any(isinstance(f, _ShutdownCancellationFilter) for f in _UVICORN_LOG.filters):
    _UVICORN_LOG.addFilter(_ShutdownCancellationFilter())


class _TransportExposingProtocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.app

        async def with_transport(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[TRANSPORT_EXTENSION] = transport
            await app(scope, receive, send)

        self.app = with_transport


class StubServer:
    """One app on ``host:port`` (``port=0``: a free port). Use as a context manager or start/stop."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, name: str = "stub") -> None:
        self.app = app
        self.host = host
        self.name = name
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port; it stays reserved for this server across stop/start."""
        if self._port is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> StubServer:
        """Bind, start serving, and return once uvicorn accepts connections (or raise).

        After :meth:`stop`, starting again listens on the same port: an upstream that comes back.
        """
        # proto must be IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on accepted sockets
        # only then, and without it every response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError as error:
            sock.close()
            raise OSError(
                f"{self.name}: cannot listen on {self.host}:{self._requested_port}: {error}"
            ) from None
        self._sock = sock
        self._port = self._requested_port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            http=_TransportExposingProtocol,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), name=f"{self.name}-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start on {self.host}:{self._requested_port}")
            time.sleep(0.01)
        return self

    def request_stop(self) -> None:
        """Ask uvicorn to exit without waiting (stop several servers at once, then :meth:`stop` each)."""
        if self._server is not None:
            self._server.should_exit = True

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for its thread; idempotent."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server, self._thread, self._sock = None, None, None

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
