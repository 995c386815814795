"""Shared fixtures for retry, fallback and policy tests: a manual clock and a real HTTP upstream."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from resilience._clock import ManualClock
from resilience.fallback import TOGGLES


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)


@pytest.fixture(autouse=True)
def _clean_toggles() -> Iterator[None]:
    yield
    TOGGLES.configure({})


@dataclass
class Upstream:
    """A real HTTP server on 127.0.0.1 answering from a script of (status, headers) responses."""

    url: str
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hits: int = 0
    slow_requests: int = 0
    """How many of the next requests stall ``slow_seconds`` before answering."""
    slow_seconds: float = 0.0


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    state = Upstream(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            if state.slow_requests > 0:
                state.slow_requests -= 1
                time.sleep(state.slow_seconds)
            status, headers = state.script.pop(0) if state.script else (200, {})
            body = b'{"ok": true}' if status == 200 else b'{"error": "busy"}'
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield state
    finally:
        state.slow_requests = 0
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
