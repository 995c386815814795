"""The Docker path for real: a FROM-scratch image built from a static toxiproxy-server, found by discovery.

Skips with the reason when no Docker daemon answers or Go is missing (the static binary is built with
``CGO_ENABLED=0 go install`` from the Go module proxy, once per machine, under the temp folder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.toxiproxy import docker as toxiproxy_docker
from harness.toxiproxy.discovery import acquire_toxiproxy
from tests.toxiproxy._net import EchoServer, connect, rtt_ms

pytestmark = pytest.mark.docker

STATIC_GOBIN = Path(tempfile.gettempdir()) / "harness-toxiproxy-static"
TAG = "harness-toxiproxy:contract-test"


def _static_binary() -> Path:
    binary = STATIC_GOBIN / "server"
    if not binary.exists():
        if shutil.which("go") is None:
            pytest.skip("Go is not installed: no static toxiproxy-server for a FROM-scratch image")
        subprocess.run(
            ["go", "install", "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0"],
            env={**os.environ, "CGO_ENABLED": "0", "GOBIN": str(STATIC_GOBIN)},
            check=True,
            capture_output=True,
            timeout=600,
        )
    return binary


@pytest.fixture(scope="module")
def scratch_image() -> Iterator[str]:
    try:
        client = toxiproxy_docker.connect()
    except toxiproxy_docker.DockerUnavailable as exc:
        pytest.skip(f"no Docker daemon answers here: {exc}")
    try:
        toxiproxy_docker.build_scratch_image(_static_binary(), TAG, client=client)
        yield TAG
    finally:
        client.close()


def test_dynamic_binary_is_refused_with_the_fix_named(tmp_path: Path) -> None:
    dynamic = Path(shutil.which("python3") or "/usr/bin/python3").resolve()
    with pytest.raises(ValueError, match="CGO_ENABLED=0"):
        toxiproxy_docker.build_scratch_image(dynamic, "harness-toxiproxy:never-built")


def test_discovery_runs_toxiproxy_in_a_container(scratch_image: str) -> None:
    echo = EchoServer()
    try:
        with acquire_toxiproxy(prefer="docker", image=scratch_image) as handle:
            assert handle.kind == "docker"
            assert scratch_image in handle.reason
            proxy = handle.client.create_proxy("echo", echo.address)
            with connect(proxy.port) as sock:
                baseline = rtt_ms(sock)
                with proxy.toxic("latency", latency=150):
                    slowed = rtt_ms(sock)
            assert slowed - baseline >= 140
            assert handle.client.proxies()["echo"].toxics() == []
        container_ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label={toxiproxy_docker.LABEL}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        assert container_ids == []  # the container is removed on exit
    finally:
        echo.close()
