"""Socket and API helpers for the embedded server's tests."""

from __future__ import annotations

import socket
import time

import httpx

IO_TIMEOUT = 5.0  # seconds: no socket read in this suite waits longer


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Send ``payload`` and read its echo; returns the round trip in milliseconds."""
    start = time.monotonic()
    sock.sendall(payload)
    assert read_exactly(sock, len(payload)) == payload
    return (time.monotonic() - start) * 1000


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def add_toxic(http: httpx.Client, **body: object) -> dict[str, object]:
    response = http.post("/proxies/echo/toxics", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result
