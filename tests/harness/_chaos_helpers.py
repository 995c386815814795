"""Helpers for the harness tests: run the CLI as a user would, start a real Toxiproxy that outlives runs."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.toxiproxy.client import ToxiproxyClient

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from harness.cli import main; main()"]


def harness_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_STEP_SUMMARY", "HARNESS_TOXIPROXY")}
    env.pop("TOXIPROXY_URL", None)
    env.pop("COLUMNS", None)  # output to a pipe: the harness picks its own width unless a test sets one
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """``harness ARGS`` in a child process, from the repository root."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=harness_env(**env)
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def real_toxiproxy() -> Iterator[ToxiproxyClient]:
    """A real ``toxiproxy-server`` that outlives the runs under test, so its API can be checked after."""
    binary = shutil.which("toxiproxy-server")
    if binary is None:
        pytest.skip("toxiproxy-server is not on PATH")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "-host", "127.0.0.1", "-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LOG_LEVEL": "warn"},
    )
    client = ToxiproxyClient(f"http://127.0.0.1:{port}", timeout=5.0)
    try:
        deadline = time.monotonic() + 15
        while not client.is_running():
            assert time.monotonic() < deadline, "toxiproxy-server did not start"
            time.sleep(0.05)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(10)
