"""Which Toxiproxy discovery picks, why it says so, and that whatever it starts is stopped again."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyUnavailable
from harness.toxiproxy.discovery import ToxiproxyKind, acquire_toxiproxy, choose_toxiproxy

needs_binary = pytest.mark.skipif(
    shutil.which("toxiproxy-server") is None, reason="toxiproxy-server is not on PATH"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOXIPROXY_URL", "HARNESS_TOXIPROXY", "TOXIPROXY_IMAGE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_binary_no_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PATH without toxiproxy-server and a Docker host that does not exist."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")


@pytest.fixture
def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def zombie_children() -> list[int]:
    """Children of this process that exited but were never reaped."""
    zombies = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            zombies.append(int(stat.parent.name))
    return zombies


@needs_binary
def test_binary_on_path_is_started_and_stopped() -> None:
    with acquire_toxiproxy() as handle:
        assert handle.kind is ToxiproxyKind.BINARY
        assert handle.kind == "binary"
        assert "TOXIPROXY_URL is not set" in handle.reason
        assert "toxiproxy-server on PATH" in handle.reason and handle.url in handle.reason
        assert handle.url.startswith("http://127.0.0.1:")
        assert handle.client.version() == "git"
        url = handle.url
    with ToxiproxyClient(url, timeout=1.0) as probe:
        assert not probe.is_running()
    assert zombie_children() == []


@needs_binary
def test_toxiproxy_url_wins_and_nothing_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    with acquire_toxiproxy(prefer="binary") as outer:
        monkeypatch.setenv("TOXIPROXY_URL", outer.url)
        choice = choose_toxiproxy()
        assert choice.kind is ToxiproxyKind.URL
        with acquire_toxiproxy() as handle:
            assert (handle.kind, handle.url) == (ToxiproxyKind.URL, outer.url)
            assert handle.reason == f"TOXIPROXY_URL is set: using the Toxiproxy git at {outer.url}"
            handle.client.create_proxy("kept", "127.0.0.1:9")
        assert list(outer.client.proxies()) == ["kept"]  # the user's server is left running as it was


def test_unreachable_toxiproxy_url_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", f"http://127.0.0.1:{closed_port}")
    expected = rf"TOXIPROXY_URL=http://127\.0\.0\.1:{closed_port} is set but no Toxiproxy answers there"
    with pytest.raises(ToxiproxyUnavailable, match=expected), acquire_toxiproxy():
        pass


@needs_binary
def test_env_forces_a_kind_over_toxiproxy_url(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("HARNESS_TOXIPROXY", "binary")
    with acquire_toxiproxy() as handle:
        assert handle.kind is ToxiproxyKind.BINARY
        assert handle.reason.startswith("HARNESS_TOXIPROXY=binary forces it")


def test_unknown_kind_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="prefer='podman' is not a Toxiproxy kind; use one of: url, binary"):
        choose_toxiproxy(prefer="podman")
    monkeypatch.setenv("HARNESS_TOXIPROXY", "nope")
    with pytest.raises(ValueError, match="HARNESS_TOXIPROXY='nope'"):
        choose_toxiproxy()


def test_forced_url_needs_toxiproxy_url() -> None:
    with pytest.raises(ToxiproxyUnavailable, match="prefer=url forces it, but TOXIPROXY_URL is not set"):
        choose_toxiproxy(prefer="url")


@pytest.mark.usefixtures("no_binary_no_docker")
def test_forced_binary_missing_from_path() -> None:
    with pytest.raises(ToxiproxyUnavailable, match="there is no toxiproxy-server on PATH"):
        choose_toxiproxy(prefer="binary")


@pytest.mark.usefixtures("no_binary_no_docker")
def test_forced_docker_without_daemon() -> None:
    with pytest.raises(ToxiproxyUnavailable, match="prefer=docker forces it, but no Docker daemon answers"):
        choose_toxiproxy(prefer="docker")


@pytest.mark.usefixtures("no_binary_no_docker")
def test_falls_back_to_embedded_and_says_why() -> None:
    choice = choose_toxiproxy()
    assert choice.kind is ToxiproxyKind.EMBEDDED
    for why in ("TOXIPROXY_URL is not set", "no toxiproxy-server on PATH", "no Docker daemon answers"):
        assert why in choice.reason
    assert choice.reason.endswith("using the embedded Python server")


def test_a_binary_that_dies_at_start_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "toxiproxy-server"
    fake.write_text("#!/bin/sh\necho 'cannot start: broken build' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with (
        pytest.raises(ToxiproxyUnavailable, match="exit status 3: cannot start: broken build"),
        acquire_toxiproxy(prefer="binary"),
    ):
        pass
    assert zombie_children() == []


@pytest.fixture
def embedded_available() -> Iterator[None]:
    try:
        import harness.toxiproxy.server  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "harness.toxiproxy.server":
            raise
        pytest.skip("embedded server not built yet")
    yield


@pytest.mark.usefixtures("no_binary_no_docker", "embedded_available")
def test_embedded_fallback_runs() -> None:
    with acquire_toxiproxy() as handle:
        assert handle.kind is ToxiproxyKind.EMBEDDED
        assert handle.client.version() == "2.12.0"
        assert handle.url in handle.reason
        url = handle.url
    with ToxiproxyClient(url, timeout=1.0) as probe:
        assert not probe.is_running()


@pytest.mark.usefixtures("embedded_available")
def test_prefer_embedded_even_with_a_binary() -> None:
    with acquire_toxiproxy(prefer="embedded") as handle:
        assert handle.kind is ToxiproxyKind.EMBEDDED
        assert handle.reason.startswith("prefer=embedded forces it")
