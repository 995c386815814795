"""The gateway as its own process, its configuration errors, and ``harness stubs serve``."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from stubs.gateway.config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from stubs.gateway.process import GatewayProcess, GatewayStartError
from stubs.platform import Platform


@pytest.mark.slow
def test_subprocess_gateway_serves_and_stops(
    platform: Platform, upstream_urls: dict[str, str], tmp_path: Path
) -> None:
    with GatewayProcess(upstreams=upstream_urls, log_path=tmp_path / "gw.log") as gateway:
        assert gateway.url is not None and gateway.pid is not None
        with httpx.Client(base_url=gateway.url, timeout=10) as client:
            assert client.get("/forecast/north").json()["degraded"] is False
            platform.control("weather-service").set_behaviour(error_rate=1.0)
            degraded = client.get("/forecast/north")
            assert degraded.headers["x-fallback"] == "weather-service=last_known_good"
        pid = gateway.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone, not a zombie left running


@pytest.mark.slow
def test_subprocess_gateway_with_a_bad_config_fails_with_the_reason(tmp_path: Path) -> None:
    config = json.loads(DEFAULT_CONFIG_PATH.read_text())
    config["services"]["user-service"]["failure_treshold"] = 3  # the typo a user makes
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(config))
    with pytest.raises(GatewayStartError, match="failure_treshold"):
        GatewayProcess(config=bad, log_path=tmp_path / "gw.log", start_timeout=15).start()


def test_default_config_is_valid_and_points_at_the_serve_ports() -> None:
    config = load_config(environ={})
    assert config.url("weather-service") == "http://127.0.0.1:18082"
    assert config.services["weather-service"]["recovery_timeout"] <= 5
    assert json.loads(DEFAULT_CONFIG_PATH.read_text())["services"].keys() == config.services.keys()


def test_overrides_from_arguments_and_environment() -> None:
    config = load_config(
        upstreams={"user-service": "http://127.0.0.1:9001"},
        environ={"GATEWAY_UPSTREAMS": "user-service=http://127.0.0.1:1,weather-service=http://127.0.0.1:9002",
                 "GATEWAY_DLQ_URL": "http://127.0.0.1:9003", "DLQ_API_KEY": "k"},
    )  # fmt: skip
    assert config.url("user-service") == "http://127.0.0.1:9001"  # argument beats environment
    assert config.url("weather-service") == "http://127.0.0.1:9002"
    assert (config.dlq.url, config.dlq.api_key) == ("http://127.0.0.1:9003", "k")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "invalid JSON"),
        (json.dumps({"services": {}}), "services.user-service is missing"),
        (json.dumps({"services": {"user-service": {"url": "ftp://x"}}}), "services.user-service.url"),
        (json.dumps({"services": {}, "colour": 1}), "colour"),
    ],
)
def test_config_errors_name_the_problem(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=needle):
        load_config(path, environ={})


def test_unknown_upstream_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown service"):
        load_config(upstreams={"billing": "http://127.0.0.1:1"}, environ={})
    with pytest.raises(ConfigError, match="NAME=http"):
        load_config(environ={"GATEWAY_UPSTREAMS": "user-service"})


def _free_base_port(rng: random.Random) -> int:
    """A base port whose six successors are free right now, below the ephemeral range (32768+) so
    outgoing connections of other processes cannot take them meanwhile. Best effort."""
    for _ in range(50):
        base = rng.randrange(20000, 32000)
        try:
            for offset in range(6):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    pytest.skip("no run of six free ports found")


def _serve(base: int) -> tuple[subprocess.Popen[str], str]:
    """Start ``harness stubs serve`` and read its output up to the "Ctrl-C" line (or its end)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from harness.cli import main; main()",
            "stubs",
            "serve",
            "--base-port",
            str(base),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if "Ctrl-C" in line or not line:
            break
    return process, "".join(lines)


@pytest.mark.slow
def test_harness_stubs_serve_prints_where_and_stops_on_ctrl_c() -> None:
    rng = random.Random()
    for _ in range(3):  # another process on this shared box may grab a port between probe and bind
        base = _free_base_port(rng)
        process, output = _serve(base)
        if "Address already in use" not in output:
            break
        process.wait(10)
    try:
        assert f"http://127.0.0.1:{base}" in output and f"http://127.0.0.1:{base + 5}" in output
        assert httpx.get(f"http://127.0.0.1:{base}/forecast/north", timeout=10).json()["degraded"] is False
        assert httpx.get(f"http://127.0.0.1:{base + 2}/_admin/behaviour").status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
        assert process.stdout is not None and "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{base + 1}/health")


def test_platform_starts_the_gateway_in_a_thread_in_front_of_its_stubs() -> None:
    with Platform(gateway="thread") as platform:
        assert next(iter(platform.urls)) == "gateway" and platform.gateway_process is None
        gateway = platform.urls["gateway"]
        assert httpx.get(f"{gateway}/users/1").json()["user_id"] == "1"
        assert platform.control("user-service").count() == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{gateway}/health")


@pytest.mark.slow
def test_platform_starts_the_gateway_as_a_child_process() -> None:
    with Platform(gateway="process") as platform:
        process = platform.gateway_process
        assert process is not None and process.pid is not None and process.exit_code is None
        pid = process.pid
        assert httpx.get(platform.urls["gateway"] + "/forecast/east", timeout=10).json()["degraded"] is False
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ValueError, match="gateway must be"):
        Platform(gateway="fork")  # type: ignore[arg-type]


def test_upstreams_can_come_from_the_service_registry(platform: Platform, tmp_path: Path) -> None:
    config = json.loads(DEFAULT_CONFIG_PATH.read_text())
    for section in config["services"].values():
        section["url"] = "http://127.0.0.1:9"  # nothing listens there
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    registry = platform.urls["service-registry"]
    pinned = "http://127.0.0.1:4242"
    loaded = load_config(path, registry_url=registry, upstreams={"user-service": pinned}, environ={})
    assert loaded.url("weather-service") == platform.urls["weather-service"]
    assert loaded.url("processing-service") == platform.urls["processing-service"]
    assert loaded.url("user-service") == pinned  # an explicit override beats the registry
    httpx.put(f"{registry}/v1/agent/service/deregister/prediction-service")
    unlisted = load_config(path, environ={"GATEWAY_REGISTRY_URL": registry})
    assert unlisted.url("prediction-service") == "http://127.0.0.1:9"  # not listed: the file's URL
    with pytest.raises(ConfigError, match=r"service registry http://127\.0\.0\.1:9: cannot look up"):
        load_config(path, registry_url="http://127.0.0.1:9", environ={})
