"""Fixtures for the DLQ tests: databases (SQLite file, fresh PostgreSQL schema), servers over real
HTTP (in-process uvicorn thread or a ``python -m resilience.dlq`` subprocess) and a counting
destination that also plays the Consul catalog and the alert webhook."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from resilience.dlq.app import create_app
from resilience.dlq.settings import Settings

POSTGRES_URL = os.environ.get("DLQ_TEST_POSTGRES_URL")
API_KEY = "test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}

FAST = Settings(
    api_key=API_KEY,
    worker_interval=0.05,
    backoff_base=0.05,
    backoff_max=0.2,
    delivery_timeout=2.0,
    lease_seconds=10.0,
    max_attempts=3,
    alert_interval=0.05,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# -- databases ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    if not POSTGRES_URL:
        pytest.skip(
            "DLQ_TEST_POSTGRES_URL is unset (e.g. postgresql+psycopg://postgres:postgres@127.0.0.1/dlq_test)"
        )
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema, dropped afterwards."""
    schema = f"dlq_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dlq.db'}"
    return str(request.getfixturevalue("postgres_url"))


# -- servers --------------------------------------------------------------------------------------


class InProcessServer:
    """The app served by uvicorn on a socket bound to port 0, in a background thread."""

    def __init__(self, settings: Settings, port: int = 0) -> None:
        self.app = create_app(settings)
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._clients: list[httpx.Client] = []

    def __enter__(self) -> InProcessServer:
        self._thread.start()
        wait_until(lambda: self._server.started or not self._thread.is_alive(), timeout=30)
        if not self._server.started:
            raise RuntimeError("DLQ server failed to start")
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self._clients:
            client.close()
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()

    def client(self, **kwargs: Any) -> httpx.Client:
        """An authenticated client, closed when the server stops."""
        client = httpx.Client(base_url=self.url, headers=AUTH, timeout=10, **kwargs)
        self._clients.append(client)
        return client


@pytest.fixture
def serve(database_url: str) -> Iterator[Callable[..., InProcessServer]]:
    """``serve(**overrides)`` starts an in-process server on ``database_url``; stopped at teardown."""
    started: list[InProcessServer] = []

    def start(**overrides: Any) -> InProcessServer:
        server = InProcessServer(replace(FAST, database_url=database_url, **overrides)).__enter__()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.__exit__()


class ServerProcess:
    """``python -m resilience.dlq`` in a subprocess, configured through its environment."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env}
        self._log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Launch and wait until ``/health`` answers."""
        return self.launch().wait_ready(timeout)

    def launch(self) -> ServerProcess:
        with open(self._log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "resilience.dlq", "--port", str(self.port), "--log-level", "warning"],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 60.0) -> ServerProcess:
        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"DLQ process exited: {self._log_path.read_text()[-2000:]}")
            try:
                return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=timeout, interval=0.1)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    return {"DLQ_DATABASE_URL": database_url, "DLQ_API_KEY": API_KEY, **extra}


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """``processes(env)`` makes a not-yet-started server process; every one is stopped at teardown."""
    made: list[ServerProcess] = []

    def make(env: dict[str, str], port: int | None = None) -> ServerProcess:
        process = ServerProcess(env, tmp_path / f"dlq-{len(made)}.log", port)
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()


# -- the destination --------------------------------------------------------------------------------


class Destination:
    """A real HTTP server that counts deliveries per message id, answers ``status(message_id)``,
    serves a Consul-style catalog and records alert webhooks."""

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.catalog: dict[str, list[dict[str, Any]]] = {}
        self.status: Callable[[str], int] = lambda _id: 200
        self.concurrent = 0
        self.max_concurrent_per_message: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self.delay = 0.0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any = None) -> None:
                data = json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                prefix = "/v1/catalog/service/"
                if self.path.startswith(prefix):
                    self._reply(200, owner.catalog.get(self.path[len(prefix) :], []))
                else:
                    self._reply(404)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path == "/alerts":
                    with owner._lock:
                        owner.alerts.append(body)
                    self._reply(200)
                    return
                message_id = self.headers.get("X-DLQ-Message-Id", "")
                with owner._lock:
                    owner._in_flight[message_id] += 1
                    owner.max_concurrent_per_message[message_id] = max(
                        owner.max_concurrent_per_message[message_id], owner._in_flight[message_id]
                    )
                time.sleep(owner.delay)
                status = owner.status(message_id)
                with owner._lock:
                    owner._in_flight[message_id] -= 1
                    if 200 <= status < 300:
                        owner.deliveries[message_id] += 1
                    owner.bodies.append(
                        {
                            "path": self.path,
                            "id": message_id,
                            "body": body,
                            "status": status,
                            "attempt": self.headers.get("X-DLQ-Attempt"),
                            "at": time.monotonic(),
                        }
                    )
                self._reply(status)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def destination() -> Iterator[Destination]:
    dest = Destination()
    yield dest
    dest.close()


def message_body(n: int = 0, **overrides: Any) -> dict[str, Any]:
    return {
        "source_queue": "orders",
        "destination_service": "billing",
        "payload": {"order_id": n},
        "error_message": f"TimeoutError: upstream timed out after {n}s",
        **overrides,
    }
