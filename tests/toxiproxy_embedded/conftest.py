"""Fixtures for the embedded server's own tests: a fresh server per test, an echo upstream, sockets."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from harness.toxiproxy.server import EmbeddedToxiproxy


class Echo:
    """A threaded TCP echo server on a free loopback port."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()


@pytest.fixture
def server() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy.running(port=0) as embedded:
        yield embedded


@pytest.fixture
def http(server: EmbeddedToxiproxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture
def echo() -> Iterator[Echo]:
    upstream = Echo()
    yield upstream
    upstream.close()


@pytest.fixture
def proxy_port(http: httpx.Client, echo: Echo) -> int:
    """A proxy named ``echo`` in front of the echo server; returns its listen port."""
    response = http.post("/proxies", json={"name": "echo", "listen": "127.0.0.1:0", "upstream": echo.address})
    assert response.status_code == 201, response.text
    return int(response.json()["listen"].rsplit(":", 1)[1])
