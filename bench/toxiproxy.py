"""The embedded Toxiproxy beside the real ``toxiproxy-server``, in the same run, with no toxic.

Measures, for a direct connection (baseline), the real server and the embedded one (each server in its
own process, started on free loopback ports): download throughput in MB/s over 1 connection and over 50
at once, the rate of short connections (connect, 1-byte echo, close) per second, and the added latency of
a 1-byte ping-pong (p50/p99 round trip through the proxy minus the direct one). The upstream (a
streaming source and an echo server) runs in a separate process so the load generator measures the proxy,
not itself. Bounded: about a minute. Targets: embedded throughput at least half the real server's, and
under 1 ms p99 added latency.

    python bench/toxiproxy.py [--seconds 2.0] [--pings 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from harness.measure import percentile

BLOCK = 1024 * 1024  # bytes per send/recv call in the throughput tests
STREAMS = 50


# -- upstream process: a source that streams until the reader goes away, and an echo ----------------


def _source(conn: socket.socket) -> None:
    block = memoryview(os.urandom(BLOCK))
    with contextlib.suppress(OSError), conn:
        while True:
            conn.sendall(block)


def _echo(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with contextlib.suppress(OSError), conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def _serve(listener: socket.socket, handler: object) -> None:
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handler, args=(conn,), daemon=True).start()  # type: ignore[arg-type]


def _upstream_main(ports: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    source = socket.create_server(("127.0.0.1", 0), backlog=512)
    echo = socket.create_server(("127.0.0.1", 0), backlog=512)
    ports.put((source.getsockname()[1], echo.getsockname()[1]))
    threading.Thread(target=_serve, args=(source, _source), daemon=True).start()
    _serve(echo, _echo)


# -- servers under test ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _process_server(command: list[str], port: int) -> Iterator[str]:
    env = dict(os.environ, LOG_LEVEL="error")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/version", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{command[0]} did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _embedded(port: int) -> list[str]:
    code = "from harness.commands.toxiproxy_serve import toxiproxy_group; toxiproxy_group()"
    return [sys.executable, "-c", code, "serve", "--port", str(port)]


def _real(port: int) -> list[str]:
    return ["toxiproxy-server", "-host", "127.0.0.1", "-port", str(port)]


def _proxy(url: str, name: str, upstream_port: int) -> int:
    body = {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream_port}"}
    response = httpx.post(f"{url}/proxies", json=body)
    response.raise_for_status()
    return int(response.json()["listen"].rsplit(":", 1)[1])


# -- measurements ---------------------------------------------------------------------------------------


def _download(port: int, seconds: float, totals: list[int], index: int, start: threading.Barrier) -> None:
    buffer = bytearray(BLOCK)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        start.wait()
        deadline = time.monotonic() + seconds
        received = 0
        while time.monotonic() < deadline:
            count = sock.recv_into(buffer)
            if not count:
                break
            received += count
        totals[index] = received


def throughput(port: int, streams: int, seconds: float) -> float:
    """MB/s (10^6 bytes) summed over ``streams`` concurrent downloads lasting ``seconds``."""
    totals = [0] * streams
    barrier = threading.Barrier(streams)
    threads = [
        threading.Thread(target=_download, args=(port, seconds, totals, i, barrier)) for i in range(streams)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(totals) / seconds / 1e6


def connection_rate(port: int, seconds: float, workers: int = 4) -> float:
    """Short connections per second (connect, 1-byte echo, close) from ``workers`` threads."""
    counts = [0] * workers

    def work(index: int) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(b"x")
                sock.recv(1)
            counts[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def round_trips(port: int, pings: int) -> list[float]:
    """Round-trip times in ms of 1-byte ping-pongs on one connection (after a short warm-up)."""
    samples = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(pings + 100):
            start = time.perf_counter()
            sock.sendall(b"x")
            sock.recv(1)
            if i >= 100:
                samples.append((time.perf_counter() - start) * 1000)
    return samples


@dataclass
class Row:
    name: str
    mbps_1: float
    mbps_50: float
    conn_rate: float
    p50: float
    p99: float


def measure(name: str, source_port: int, echo_port: int, seconds: float, pings: int) -> Row:
    rtts = sorted(round_trips(echo_port, pings))
    return Row(
        name,
        throughput(source_port, 1, seconds),
        throughput(source_port, STREAMS, seconds),
        connection_rate(echo_port, seconds),
        statistics.median(rtts),
        percentile(rtts, 99),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each throughput/rate test")
    parser.add_argument("--pings", type=int, default=2000, help="ping-pongs for the latency figures")
    args = parser.parse_args()

    ports: multiprocessing.SimpleQueue = multiprocessing.SimpleQueue()  # type: ignore[type-arg]
    upstream = multiprocessing.Process(target=_upstream_main, args=(ports,), daemon=True)
    upstream.start()
    source_port, echo_port = ports.get()
    rows = [measure("direct (no proxy)", source_port, echo_port, args.seconds, args.pings)]
    servers = [("embedded (Python)", _embedded)]
    if shutil.which("toxiproxy-server"):
        servers.insert(0, ("toxiproxy-server (Go)", _real))
    else:
        print("toxiproxy-server not on PATH: measuring the embedded server only", file=sys.stderr)
    try:
        for name, command in servers:
            port = _free_port()
            with _process_server(command(port), port) as url:
                source = _proxy(url, "source", source_port)
                echo = _proxy(url, "echo", echo_port)
                rows.append(measure(name, source, echo, args.seconds, args.pings))
    finally:
        upstream.terminate()
        upstream.join(5)

    direct = rows[0]
    columns = ("MB/s x1", "MB/s x50", "conn/s", "RTT p50", "RTT p99", "+p50")
    print(f"{'':24} " + " ".join(f"{c:>9}" for c in columns) + f" {'+p99':>7}")
    for row in rows:
        added = "" if row is direct else f"{row.p50 - direct.p50:9.3f} {row.p99 - direct.p99:7.3f}"
        print(
            f"{row.name:24} {row.mbps_1:9.0f} {row.mbps_50:9.0f} {row.conn_rate:9.0f}"
            f" {row.p50:7.3f}ms {row.p99:7.3f}ms {added}"
        )
    if len(rows) == 3:
        real, embedded = rows[1], rows[2]
        print(
            f"\nembedded / real throughput: x1 {embedded.mbps_1 / real.mbps_1:.2f},"
            f" x50 {embedded.mbps_50 / real.mbps_50:.2f};"
            f" connection rate {embedded.conn_rate / real.conn_rate:.2f}"
        )
    print("added latency = proxied RTT minus direct RTT, in ms (targets: >= 0.5x throughput, < 1 ms p99)")


if __name__ == "__main__":
    main()
