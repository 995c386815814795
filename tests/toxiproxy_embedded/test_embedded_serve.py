"""``harness toxiproxy serve`` as a process, and the real ``toxiproxy-cli`` against the embedded server."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.toxiproxy.server import EmbeddedToxiproxy

START_TIMEOUT = 30.0  # seconds: the harness CLI imports a lot on a loaded box


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if httpx.get(f"{url}/version", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("harness toxiproxy serve did not answer in time")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps([{"name": "from-config", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"}])
    )
    command = [sys.executable, "-c", "from harness.cli import main; main()", "toxiproxy", "serve"]
    command += ["--port", str(port), "--seed", "3", "--config", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_serve_answers_loads_config_and_stops_on_sigint(served: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, process = served
    assert httpx.get(f"{url}/version").content == b'{"version": "2.12.0"}\n'
    assert httpx.get(f"{url}/proxies").json()["from-config"]["enabled"] is True
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/version", timeout=2)


@pytest.mark.skipif(shutil.which("toxiproxy-cli") is None, reason="toxiproxy-cli is not on PATH")
def test_real_toxiproxy_cli_drives_the_embedded_server() -> None:
    with EmbeddedToxiproxy.running(port=0) as server:
        host = server.url.removeprefix("http://")

        def cli(*args: str) -> str:
            done = subprocess.run(
                ["toxiproxy-cli", "-h", host, *args], capture_output=True, text=True, timeout=20
            )
            assert done.returncode == 0, done.stderr
            return done.stdout + done.stderr

        assert "Created new proxy demo" in cli("create", "-l", "127.0.0.1:0", "-u", "127.0.0.1:9", "demo")
        cli("toxic", "add", "-t", "latency", "-a", "latency=100", "-a", "jitter=5", "demo")
        cli("toxic", "update", "-n", "latency_downstream", "-a", "latency=50", "demo")
        inspected = cli("inspect", "demo")
        assert "latency_downstream" in inspected and "latency=50" in inspected and "jitter=5" in inspected
        refused = subprocess.run(
            ["toxiproxy-cli", "-h", host, "toxic", "add", "-t", "bandwidth", "-a", "rate=-1", "demo"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert (
            "HTTP 400: invalid attribute: bandwidth rate must be at least 0, got -1"
            in refused.stdout + refused.stderr
        )
        assert "disabled" in cli("toggle", "demo")
        cli("toxic", "remove", "-n", "latency_downstream", "demo")
        assert "Deleted proxy demo" in cli("delete", "demo")
        assert httpx.get(f"{server.url}/proxies").json() == {}


def test_serve_on_a_taken_port_fails_with_a_clear_message() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = [sys.executable, "-c", "from harness.cli import main; main()", "toxiproxy", "serve"]
        done = subprocess.run([*command, "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
