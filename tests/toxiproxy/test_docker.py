"""The Docker path for real: an image built FROM scratch around a static toxiproxy-server, run by discovery.

No image can be pulled here, so the static binary is built once with the Go toolchain (cached under
/tmp) and wrapped in an image in code. Skipped, with the reason, when no daemon answers or Go is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.toxiproxy import docker as tp_docker
from harness.toxiproxy.discovery import ToxiproxyKind, acquire_toxiproxy, choose_toxiproxy
from tests.toxiproxy._net import EchoServer, connect, rtt_ms

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

pytestmark = pytest.mark.docker

STATIC_CACHE = Path("/tmp/harness-toxiproxy-static")
SERVER_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0"
TEST_TAG = "harness-toxiproxy:test"


@pytest.fixture(scope="module")
def daemon() -> Iterator[DockerClient]:
    try:
        client = tp_docker.connect()
    except tp_docker.DockerUnavailable as exc:
        pytest.skip(f"Docker path not testable here: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def static_binary() -> Path:
    """A static toxiproxy-server (CGO off), built once from the Go module proxy and cached."""
    binary = STATIC_CACHE / "server"
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain to build a static toxiproxy-server for a FROM scratch image")
    env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(STATIC_CACHE)}
    done = subprocess.run(
        [go, "install", SERVER_MODULE], env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        pytest.skip(f"could not build a static toxiproxy-server: {done.stderr.strip()[-300:]}")
    return binary


@pytest.fixture(scope="module")
def image(daemon: DockerClient, static_binary: Path) -> str:
    tp_docker.build_scratch_image(static_binary, TEST_TAG, client=daemon)
    return TEST_TAG


def labelled_containers(daemon: DockerClient) -> list[Container]:
    containers: list[Container] = daemon.containers.list(all=True, filters={"label": tp_docker.LABEL})
    return containers


def test_static_check_tells_static_from_dynamic(static_binary: Path) -> None:
    assert tp_docker.is_static_binary(static_binary)
    assert not tp_docker.is_static_binary(Path(shutil.which("python3") or "/bin/sh").resolve())


def test_dynamic_binary_is_refused_with_the_fix() -> None:
    dynamic = Path("/bin/sh").resolve()
    with pytest.raises(ValueError, match=r"dynamically linked.*CGO_ENABLED=0 go install"):
        tp_docker.build_scratch_image(dynamic)


def test_container_serves_proxies_to_host_loopback(
    daemon: DockerClient, image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOXIPROXY_IMAGE", image)
    echo = EchoServer()
    try:
        with acquire_toxiproxy(prefer="docker") as handle:
            assert handle.kind is ToxiproxyKind.DOCKER
            assert f"running {image}" in handle.reason and handle.url in handle.reason
            assert handle.client.version() == "git"
            assert len(labelled_containers(daemon)) == 1
            proxy = handle.client.create_proxy("echo", echo.address)
            with connect(proxy.port) as sock:
                assert rtt_ms(sock) < 100
                proxy.add_toxic("latency", latency=100)
                assert 98 <= rtt_ms(sock) <= 200
    finally:
        echo.close()
    assert labelled_containers(daemon) == []


def test_auto_picks_docker_when_no_binary(
    daemon: DockerClient, image: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.delenv("HARNESS_TOXIPROXY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    choice = choose_toxiproxy(image=image)
    assert choice.kind is ToxiproxyKind.DOCKER
    assert "no toxiproxy-server on PATH" in choice.reason and f"running {image}" in choice.reason


def test_missing_image_falls_through_and_says_why(
    daemon: DockerClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    try:
        import harness.toxiproxy.server  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("embedded server not built yet")
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with acquire_toxiproxy(image="harness-toxiproxy:absent") as handle:
        assert handle.kind is ToxiproxyKind.EMBEDDED
        assert handle.reason.startswith("docker failed (cannot run image 'harness-toxiproxy:absent'")
    assert labelled_containers(daemon) == []
