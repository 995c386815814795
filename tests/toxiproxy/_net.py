"""Loopback socket helpers for measuring toxics: an echo upstream and timed reads."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

IO_TIMEOUT = 5.0  # seconds; no read in the suite waits longer than this


class EchoServer:
    """A threaded TCP echo server on 127.0.0.1:<free port>; each connection echoes until EOF."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._conns.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.close()
        self._thread.join(timeout=2)


def connect(port: int, timeout: float = IO_TIMEOUT) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {size} bytes")
        data += chunk
    return data


def rtt_ms(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Round trip of one message through the echo upstream, in ms."""
    start = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return (time.perf_counter() - start) * 1000


def read_to_end(sock: socket.socket) -> tuple[bytes, list[int], BaseException | None]:
    """Read until EOF or an error: (all bytes, size of each recv, the error or None for a clean EOF)."""
    data, pieces = b"", []
    try:
        while chunk := sock.recv(65536):
            data += chunk
            pieces.append(len(chunk))
    except OSError as exc:
        return data, pieces, exc
    return data, pieces, None


@contextlib.contextmanager
def elapsed_ms() -> Iterator[list[float]]:
    """``with elapsed_ms() as t: ...`` then ``t[0]`` is the block's duration in ms."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append((time.perf_counter() - start) * 1000)
