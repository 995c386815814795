"""Load engine benchmark: the request rate one Locust worker reaches against a stub on this machine,
and the harness's overhead on top of plain Locust (its per-request sample recorder and watcher).

Both runs use the same locustfile, users and duration against the weather stub, which runs in its
own process so the stub and the load generator never share a GIL. Bounded: two runs of DURATION_S.

    python bench/load.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.load.runner import LoadRun  # noqa: E402
from harness.load.spec import LoadSpec  # noqa: E402

LOCUSTFILE = ROOT / "tests" / "load" / "weather_locustfile.py"
USERS = 20
DURATION_S = 10
RATE_PER_USER = 1000.0  # far above what one worker can do: measures the ceiling

STUB = """
import sys, time
from stubs.platform import Platform
with Platform(services=["weather-service"]) as p:
    print(p.urls["weather-service"], flush=True)
    sys.stdin.read()
"""


def _plain_locust(host: str, workdir: Path) -> float:
    stats = workdir / "plain.json"
    subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
            "-u", str(USERS), "-r", str(USERS), "-t", f"{DURATION_S}s", "--host", host,
            "--json-file", str(stats.with_suffix("")), "--skip-log-setup",
        ],
        env={**os.environ, "HARNESS_RATE_PER_USER": str(RATE_PER_USER)},
        check=True, capture_output=True, timeout=DURATION_S + 60,
    )  # fmt: skip
    entries = json.loads(stats.read_text())
    total = sum(e["num_requests"] for e in entries)
    span = max(e["last_request_timestamp"] for e in entries) - min(e["start_time"] for e in entries)
    return total / span


def _harness(host: str, workdir: Path) -> float:
    spec = LoadSpec(
        locustfile=LOCUSTFILE, users=USERS, spawn_rate=USERS, rate_per_user=RATE_PER_USER,
        duration=DURATION_S, max_requests=1_000_000,
    )  # fmt: skip
    run = LoadRun(spec, host, workdir / "harness")
    run.start()
    return run.wait().achieved_rps


def main() -> None:
    stub = subprocess.Popen(
        [sys.executable, "-c", STUB], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert stub.stdout is not None
        host = stub.stdout.readline().strip()
        httpx.get(f"{host}/weather/warmup", timeout=5).raise_for_status()
        with tempfile.TemporaryDirectory() as tmp:
            plain = _plain_locust(host, Path(tmp))
            time.sleep(1)
            harness = _harness(host, Path(tmp))
    finally:
        stub.communicate("", timeout=10)
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    print(f"load: {USERS} users, {DURATION_S} s, one Locust process, weather stub in its own process")
    print(f"{'run':<28}{'requests/s':>12}")
    print(f"{'plain locust':<28}{plain:>12.0f}")
    print(f"{'harness LoadRun (recorder)':<28}{harness:>12.0f}")
    print(f"harness overhead: {100 * (plain - harness) / plain:+.1f}% of plain Locust's rate")


if __name__ == "__main__":
    main()
