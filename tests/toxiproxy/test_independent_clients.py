"""Clients we did not write, unchanged, against both servers: toxiproxy-python and the Go toxiproxy-cli."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest
import toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import NotFound, ProxyExists

from harness.toxiproxy.client import ToxiproxyClient
from tests.toxiproxy._net import EchoServer, connect, rtt_ms
from tests.toxiproxy.conftest import Server

# --- toxiproxy-python (requests, class-level API address) ----------------------------------------


@pytest.fixture
def pyclient(server: Server, api: ToxiproxyClient) -> Iterator[toxiproxy.Toxiproxy]:
    saved = APIConsumer.host, APIConsumer.port
    host, port = server.host_port.rsplit(":", 1)
    client = toxiproxy.Toxiproxy()
    client.update_api_consumer(host, int(port))
    yield client
    client.update_api_consumer(*saved)


def test_toxiproxy_python_lifecycle(pyclient: toxiproxy.Toxiproxy, echo: EchoServer) -> None:
    assert pyclient.running()
    assert pyclient.version() in (b'{"version": "git"}\n', b'{"version": "2.12.0"}\n')
    proxy = pyclient.create(upstream=echo.address, name="py", listen="127.0.0.1:0")
    port = int(proxy.listen.rsplit(":", 1)[1])
    assert list(pyclient.proxies()) == ["py"]
    with pytest.raises(ProxyExists):
        pyclient.create(upstream=echo.address, name="py")

    proxy.add_toxic(type="latency", attributes={"latency": 100})
    toxics = proxy.toxics()
    assert list(toxics) == ["latency_downstream"]
    assert toxics["latency_downstream"].attributes == {"latency": 100, "jitter": 0}
    with connect(port) as sock:
        assert 98 <= rtt_ms(sock) <= 200
    assert proxy.destroy_toxic("latency_downstream")
    with pytest.raises(NotFound, match="toxic not found"):
        proxy.destroy_toxic("latency_downstream")

    # toxiproxy-python toggles with the deprecated POST /proxies/{name}
    with proxy.down(), pytest.raises(ConnectionRefusedError):
        connect(port)
    with connect(port) as sock:
        assert rtt_ms(sock) < 100

    assert pyclient.reset()
    pyclient.destroy_all()
    assert pyclient.proxies() == {}


def test_toxiproxy_python_populate(pyclient: toxiproxy.Toxiproxy, echo: EchoServer) -> None:
    created = pyclient.populate(
        [{"name": n, "upstream": echo.address, "listen": "127.0.0.1:0"} for n in "ab"]
    )
    assert sorted(p.name for p in created) == ["a", "b"]
    assert sorted(pyclient.proxies()) == ["a", "b"]


# --- toxiproxy-cli (the official Go client) -----------------------------------------------------


@pytest.fixture
def cli(server: Server, api: ToxiproxyClient) -> Iterator[Callable[..., str]]:
    binary = shutil.which("toxiproxy-cli")
    if binary is None:
        pytest.skip("toxiproxy-cli is not on PATH (go install github.com/Shopify/toxiproxy/v2/cmd/cli)")

    def run(*args: str, ok: bool = True) -> str:
        done = subprocess.run(
            [binary, "--host", server.url, *args], capture_output=True, text=True, timeout=30, check=False
        )
        assert (done.returncode == 0) is ok, (args, done.stdout, done.stderr)
        return done.stdout + done.stderr

    yield run


def test_toxiproxy_cli_smoke(cli: Callable[..., str], api: ToxiproxyClient, echo: EchoServer) -> None:
    run = cli  # run(*args, ok=True) -> its output
    assert "Created new proxy cp" in run(
        "create", "--listen", "127.0.0.1:0", "--upstream", echo.address, "cp"
    )
    proxy = api.get_proxy("cp")
    assert f"cp\t{proxy.listen}\t{echo.address}\tenabled" in run("list")
    added = run("toxic", "add", "-t", "latency", "-a", "latency=100", "cp")
    assert "Added downstream latency toxic 'latency_downstream' on proxy 'cp'" in added
    assert "latency=100" in run("inspect", "cp")
    run("toxic", "update", "-n", "latency_downstream", "-a", "latency=50", "cp")
    assert proxy.toxics()[0].attributes == {"latency": 50, "jitter": 0}
    run("toxic", "remove", "-n", "latency_downstream", "cp")
    assert "Proxy cp is now disabled" in run("toggle", "cp")
    assert api.get_proxy("cp").enabled is False
    assert "Deleted proxy cp" in run("delete", "cp")
    assert "HTTP 404: proxy not found" in run("delete", "cp", ok=False)
    assert api.proxies() == {}
