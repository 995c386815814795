"""Benchmark the stub platform and the gateway: overhead, fault accuracy, degraded-path latency.

Run: ``python bench/gateway.py`` (bounded: a few thousand requests, well under a minute). Everything
runs on loopback; the gateway runs in its own process, as in a scenario, and the client here is
one synchronous httpx client (so the figures are latencies, not the platform's capacity).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from harness.measure import percentile
from stubs.gateway.process import GatewayProcess
from stubs.platform import Platform
from stubs.services import REGISTRY

N = 400  # requests per row


def timed(client: httpx.Client, call: Callable[[httpx.Client], httpx.Response], n: int = N) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: list[int] = []
    fallbacks = 0
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        response = call(client)
        latencies.append((time.perf_counter() - t0) * 1000)
        statuses.append(response.status_code)
        fallbacks += "x-fallback" in response.headers
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "n": n,
        "rps": n / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": latencies[-1],
        "errors": sum(s >= 500 for s in statuses) / n,
        "fallbacks": fallbacks / n,
    }


def main() -> None:
    rows: list[tuple[str, dict[str, Any]]] = []
    with Platform() as platform, httpx.Client(timeout=10) as client:
        weather_url = platform.urls["weather-service"] + "/weather/north"
        weather = platform.control("weather-service")
        rows.append(("stub, healthy", timed(client, lambda c: c.get(weather_url))))
        weather.set_behaviour(latency=100)
        rows.append(("stub, latency fixed 100 ms", timed(client, lambda c: c.get(weather_url), 50)))
        weather.set_behaviour(latency={"kind": "exponential", "mean_ms": 20}, seed=1)
        rows.append(
            ("stub, latency exponential mean 20 ms", timed(client, lambda c: c.get(weather_url), 200))
        )
        weather.set_behaviour(error_rate=0.3, seed=1)
        rows.append(("stub, error_rate 0.3", timed(client, lambda c: c.get(weather_url))))
        weather.set_behaviour(slow_body={"chunk_bytes": 32, "interval_ms": 10})
        rows.append(("stub, slow body 32 B / 10 ms", timed(client, lambda c: c.get(weather_url), 50)))
        weather.clear_behaviour()

        upstreams = {name: url for name, url in platform.urls.items() if name != REGISTRY}
        with GatewayProcess(upstreams=upstreams) as gateway:
            assert gateway.url is not None
            with httpx.Client(base_url=gateway.url, timeout=10) as gw:
                rows.append(("gateway /forecast, healthy", timed(gw, lambda c: c.get("/forecast/north"))))
                rows.append(("gateway /users, healthy", timed(gw, lambda c: c.get("/users/7"))))
                weather.set_behaviour(error_rate=0.2, seed=3)
                before = weather.count()
                rows.append(
                    ("gateway /forecast, weather 20% errors", timed(gw, lambda c: c.get("/forecast/north")))
                )
                rows.append(("  weather calls per request", {"n": round((weather.count() - before) / N, 2)}))
                weather.set_behaviour(error_rate=1.0)
                for _ in range(50):  # until the weather breaker is open
                    if "x-fallback" in gw.get("/forecast/north").headers:
                        break
                before = weather.count()
                rows.append(
                    ("gateway /forecast, weather down", timed(gw, lambda c: c.get("/forecast/north")))
                )
                rows.append(("  weather calls in that row (probes)", {"n": weather.count() - before}))

    table = Table(title=f"stubs and gateway on loopback ({N} sequential requests per row unless n says)")
    for column in ("case", "n", "req/s", "p50 ms", "p99 ms", "max ms", "5xx", "fallback"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for name, row in rows:
        cells = [
            f"{row[key]:.1f}" if key in row and isinstance(row[key], float) else str(row.get(key, ""))
            for key in ("rps", "p50", "p99", "max")
        ]
        shares = [f"{row[key]:.0%}" if key in row else "" for key in ("errors", "fallbacks")]
        table.add_row(name, str(row["n"]), *cells, *shares)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
