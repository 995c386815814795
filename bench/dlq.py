"""DLQ throughput: ingest (single creates, batches) and redrive rate, on SQLite and PostgreSQL.

Each database gets a fresh ``python -m resilience.dlq`` server process on a free loopback port:

- single: ``SINGLE`` sequential ``POST /messages`` from one client (p50/p99 of the call), then the
  same number split over ``THREADS`` concurrent clients (rate only);
- batch: ``BATCHES`` ``POST /messages/batch`` of ``BATCH_SIZE`` messages;
- redrive: a second server with the worker on delivers everything stored so far to a local
  counting HTTP server; the rate is messages resolved per second, measured from the worker's start.

SQLite runs with ``synchronous=FULL`` (an fsync per commit), so single-create latency is bounded by
the disk's fsync time. PostgreSQL is used when ``DLQ_TEST_POSTGRES_URL`` is set (a fresh schema,
dropped afterwards). Run: ``python bench/dlq.py`` (about a minute; every loop is bounded).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from harness.measure import percentile

SINGLE = 200
THREADS = 4
BATCHES = 10
BATCH_SIZE = 100
REDRIVE_TIMEOUT = 60.0
KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(database_url: str, **env: str) -> Iterator[str]:
    port = free_port()
    full_env = {**os.environ, "DLQ_DATABASE_URL": database_url, "DLQ_API_KEY": KEY, **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "resilience.dlq", "--port", str(port), "--log-level", "error"],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("DLQ server did not start")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def destination() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def body(n: int) -> dict[str, object]:
    return {"source_queue": "bench", "destination_service": "sink", "payload": {"n": n},
            "error_message": f"TimeoutError: upstream timed out after {n} ms"}  # fmt: skip


def bench_database(name: str, database_url: str) -> dict[str, float]:
    result: dict[str, float] = {}
    with destination() as sink:
        with server(database_url, DLQ_WORKER_ENABLED="false") as url:
            with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
                latencies = []
                started = time.perf_counter()
                for n in range(SINGLE):
                    t0 = time.perf_counter()
                    client.post("/messages", json=body(n), headers={"Idempotency-Key": str(uuid.uuid4())})
                    latencies.append((time.perf_counter() - t0) * 1000)
                result["single_rate"] = SINGLE / (time.perf_counter() - started)
                latencies.sort()
                result["p50_ms"] = percentile(latencies, 50)
                result["p99_ms"] = percentile(latencies, 99)

            def worker(offset: int) -> None:
                with httpx.Client(base_url=url, headers=AUTH, timeout=30) as c:
                    for n in range(SINGLE // THREADS):
                        c.post("/messages", json=body(offset + n)).raise_for_status()

            threads = [threading.Thread(target=worker, args=(i * 10_000,)) for i in range(THREADS)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            result["concurrent_rate"] = (SINGLE // THREADS * THREADS) / (time.perf_counter() - started)

            with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
                started = time.perf_counter()
                for b in range(BATCHES):
                    batch = {"messages": [body(b * BATCH_SIZE + i) for i in range(BATCH_SIZE)]}
                    client.post("/messages/batch", json=batch).raise_for_status()
                result["batch_rate"] = BATCHES * BATCH_SIZE / (time.perf_counter() - started)
                total = int(client.get("/messages", params={"limit": 1}).json()["total"])

        worker_env = {
            "DLQ_SERVICE_MAP": json.dumps({"sink": sink}),
            "DLQ_WORKER_INTERVAL": "0.05",
            "DLQ_WORKER_BATCH": "100",
        }
        started = time.perf_counter()
        with server(database_url, **worker_env) as url, httpx.Client(base_url=url, headers=AUTH) as client:
            ready = time.perf_counter()
            resolved = 0
            while resolved < total and time.perf_counter() - ready < REDRIVE_TIMEOUT:
                time.sleep(0.1)
                resolved = int(client.get("/stats").json()["depth_by_status"]["RESOLVED"])
            # The worker starts with the server, so time from process launch bounds the rate from below.
            result["redrive_rate"] = resolved / (time.perf_counter() - started)
            result["redrive_rate_after_ready"] = resolved / (time.perf_counter() - ready)
            result["redriven"] = resolved
    print(f"  {name}: done", file=sys.stderr)
    return result


@contextmanager
def postgres_schema(admin_url: str) -> Iterator[str]:
    schema = f"dlq_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["sqlite"] = bench_database("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}")
    pg = os.environ.get("DLQ_TEST_POSTGRES_URL")
    if pg:
        with postgres_schema(pg) as url:
            rows["postgresql"] = bench_database("postgresql", url)
    else:
        print("(PostgreSQL skipped: set DLQ_TEST_POSTGRES_URL)", file=sys.stderr)

    print(f"\nDLQ benchmark: {SINGLE} single creates (1 client, then {THREADS} clients), "
          f"{BATCHES}x{BATCH_SIZE} batched, redrive of everything to a local sink")  # fmt: skip
    header = ("database", "single/s", "p50 ms", "p99 ms", f"{THREADS} clients/s", "batch msg/s", "redrive/s")
    print("  ".join(f"{h:>14}" for h in header))
    for name, r in rows.items():
        cells = [name, f"{r['single_rate']:.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                 f"{r['concurrent_rate']:.0f}", f"{r['batch_rate']:.0f}",
                 f"{r['redrive_rate_after_ready']:.0f} ({r['redriven']:.0f})"]  # fmt: skip
        print("  ".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
