"""The embedded Toxiproxy beside the real ``toxiproxy-server``, in the same run, with no toxic.

Measures, for a direct connection (baseline), the real server and the embedded one (each server in its
own process, started on free loopback ports): download throughput in MB/s over 1 connection and over 50
at once, the rate of short connections (connect, 1-byte echo, close) per second, and the added latency of
a 1-byte ping-pong (p50/p99 of proxied minus direct round trips, measured in interleaved pairs). Rounds
interleave the targets so that load from other work on the machine hits all of them alike. The upstream (a
streaming source and an echo server) runs in a separate process so the load generator measures the proxy,
not itself. Bounded: about a minute. Targets: embedded throughput at least half the real server's, and
under 1 ms p99 added latency.

    python bench/toxiproxy.py [--seconds 0.8] [--rounds 5] [--pings 1000]
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
from dataclasses import dataclass, field

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


def paired_round_trips(direct_port: int, proxied_port: int, pings: int) -> tuple[list[float], list[float]]:
    """Interleaved 1-byte ping-pongs, direct and proxied, so both see the same machine load.

    Returns the proxied round trips and the added latency of each pair (proxied minus direct), in ms.
    """
    proxied, added = [], []
    with (
        socket.create_connection(("127.0.0.1", direct_port)) as direct,
        socket.create_connection(("127.0.0.1", proxied_port)) as through,
    ):
        for sock in (direct, through):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(pings + 100):
            times = []
            for sock in (direct, through):
                start = time.perf_counter()
                sock.sendall(b"x")
                sock.recv(1)
                times.append((time.perf_counter() - start) * 1000)
            if i >= 100:  # warm-up done
                proxied.append(times[1])
                added.append(times[1] - times[0])
    return sorted(proxied), sorted(added)


@dataclass
class Target:
    name: str
    source_port: int
    echo_port: int
    mbps_1: list[float] = field(default_factory=list)
    mbps_50: list[float] = field(default_factory=list)
    conn_rate: list[float] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=0.8, help="length of each throughput/rate test")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each measuring every target in turn")
    parser.add_argument("--pings", type=int, default=1000, help="ping-pongs per round for latency")
    args = parser.parse_args()

    ports: multiprocessing.SimpleQueue = multiprocessing.SimpleQueue()  # type: ignore[type-arg]
    upstream = multiprocessing.Process(target=_upstream_main, args=(ports,), daemon=True)
    upstream.start()
    source_port, echo_port = ports.get()
    servers = [("embedded (Python)", _embedded)]
    if shutil.which("toxiproxy-server"):
        servers.insert(0, ("toxiproxy-server (Go)", _real))
    else:
        print("toxiproxy-server not on PATH: measuring the embedded server only", file=sys.stderr)
    targets = [Target("direct (no proxy)", source_port, echo_port)]
    try:
        with contextlib.ExitStack() as stack:
            for name, command in servers:
                port = _free_port()
                url = stack.enter_context(_process_server(command(port), port))
                targets.append(
                    Target(name, _proxy(url, "source", source_port), _proxy(url, "echo", echo_port))
                )
            # p50/p99 of proxied RTT and of added latency, per round and target
            latency: dict[str, list[tuple[float, ...]]] = {target.name: [] for target in targets[1:]}
            for _ in range(args.rounds):  # interleaved, so a burst of load on the box hits every target
                for target in targets:
                    target.mbps_1.append(throughput(target.source_port, 1, args.seconds))
                    target.mbps_50.append(throughput(target.source_port, STREAMS, args.seconds))
                    target.conn_rate.append(connection_rate(target.echo_port, args.seconds))
                for target in targets[1:]:
                    pair = paired_round_trips(echo_port, target.echo_port, args.pings)
                    latency[target.name].append(tuple(percentile(v, q) for v in pair for q in (50, 99)))
    finally:
        upstream.terminate()
        upstream.join(5)

    med = statistics.median
    print(f"median of {args.rounds} rounds; latency per round from {args.pings} interleaved pings (ms)\n")
    header = ("MB/s x1", "MB/s x50", "conn/s", "RTT p50", "RTT p99", "added p50", "added p99")
    print(f"{'':22}" + "".join(f"{column:>11}" for column in header))
    for target in targets:
        cells = [
            f"{med(target.mbps_1):11.0f}",
            f"{med(target.mbps_50):11.0f}",
            f"{med(target.conn_rate):11.0f}",
        ]
        if target.name in latency:
            cells += [f"{med(column):11.3f}" for column in zip(*latency[target.name], strict=True)]
        print(f"{target.name:22}" + "".join(cells))
    if len(targets) == 3:
        real, embedded = targets[1], targets[2]
        print(
            f"\nembedded / real: throughput x1 {med(embedded.mbps_1) / med(real.mbps_1):.2f},"
            f" x50 {med(embedded.mbps_50) / med(real.mbps_50):.2f};"
            f" connection rate {med(embedded.conn_rate) / med(real.conn_rate):.2f}"
        )
    print("targets: embedded throughput >= 0.5 x real; added latency p99 < 1 ms")


if __name__ == "__main__":
    main()
