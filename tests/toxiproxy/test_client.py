"""Our client against both servers: typed handles, errors carrying Toxiproxy's message, context managers."""

from __future__ import annotations

import pytest

from harness.toxiproxy.client import (
    AlreadyExists,
    BadRequest,
    Proxy,
    ProxyNotFound,
    ToxicNotFound,
    ToxiproxyClient,
    ToxiproxyError,
    ToxiproxyUnavailable,
)
from tests.toxiproxy._net import EchoServer, connect, rtt_ms
from tests.toxiproxy.conftest import Server


def test_version_and_is_running(server: Server, api: ToxiproxyClient) -> None:
    assert api.version() in ("git", "2.12.0")
    assert api.is_running()


def test_create_returns_the_bound_address(api: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = api.create_proxy("echo", echo.address)
    assert (proxy.name, proxy.upstream, proxy.enabled, proxy.host) == (
        "echo",
        echo.address,
        True,
        "127.0.0.1",
    )
    assert proxy.port > 0
    assert list(api.proxies()) == ["echo"]
    assert api.get_proxy("echo").listen == proxy.listen


def test_errors_are_typed_and_carry_the_server_message(api: ToxiproxyClient, proxy: Proxy) -> None:
    with pytest.raises(AlreadyExists, match="proxy already exists") as exc_info:
        api.create_proxy("echo", proxy.upstream)
    assert exc_info.value.status == 409
    with pytest.raises(ProxyNotFound, match="proxy not found"):
        api.get_proxy("missing")
    with pytest.raises(ToxicNotFound, match="toxic not found"):
        proxy.remove_toxic("missing")
    with pytest.raises(BadRequest, match="invalid toxic type"):
        proxy.add_toxic("nope")
    with pytest.raises(BadRequest, match="stream was invalid"):
        proxy.add_toxic("latency", stream="sideways")
    proxy.add_toxic("noop")
    with pytest.raises(AlreadyExists, match="toxic already exists"):
        proxy.add_toxic("noop")
    with pytest.raises(ToxiproxyError, match="bind: address already in use") as bind:
        api.create_proxy("clash", proxy.upstream, listen=proxy.listen)
    assert bind.value.status == 500 and type(bind.value) is ToxiproxyError


def test_whole_floats_are_sent_as_integers_and_fractions_refused(proxy: Proxy) -> None:
    toxic = proxy.add_toxic("latency", latency=100.0, jitter=5)
    assert toxic.attributes == {"latency": 100, "jitter": 5}
    assert proxy.update_toxic(toxic.name, jitter=2.0).attributes == {"latency": 100, "jitter": 2}
    with pytest.raises(ValueError, match="'latency' must be a whole number"):
        proxy.add_toxic("latency", name="frac", latency=1.5)
    with pytest.raises(TypeError, match="'rate' must be an integer"):
        proxy.add_toxic("bandwidth", rate="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="toxicity must be between 0 and 1"):
        proxy.add_toxic("noop", toxicity=1.5)
    assert [t.name for t in proxy.toxics()] == ["latency_downstream"]


def test_update_toxic_merges(proxy: Proxy) -> None:
    proxy.add_toxic("latency", name="l", stream="upstream", latency=100, jitter=10, toxicity=0.5)
    updated = proxy.update_toxic("l", jitter=3)
    assert (updated.attributes, updated.toxicity, updated.stream) == (
        {"latency": 100, "jitter": 3},
        0.5,
        "upstream",
    )
    assert proxy.update_toxic("l", toxicity=0.25).attributes == {"latency": 100, "jitter": 3}


def test_toxic_context_removes_even_when_the_block_raises(proxy: Proxy) -> None:
    with pytest.raises(RuntimeError), proxy.toxic("latency", latency=200) as toxic:
        assert toxic.name == "latency_downstream"
        assert [t.name for t in proxy.toxics()] == ["latency_downstream"]
        raise RuntimeError("boom")
    assert proxy.toxics() == []


def test_toxic_context_tolerates_the_toxic_being_gone(api: ToxiproxyClient, proxy: Proxy) -> None:
    with proxy.toxic("timeout", name="t", timeout=0):
        api.reset()
    with proxy.toxic("noop"):
        proxy.delete()
    assert api.proxies() == {}


def test_down_context_reenables_even_when_the_block_raises(proxy: Proxy) -> None:
    with pytest.raises(RuntimeError), proxy.down():
        assert proxy.enabled is False
        with pytest.raises(ConnectionRefusedError):
            connect(proxy.port)
        raise RuntimeError("boom")
    assert proxy.enabled is True
    with connect(proxy.port) as sock:
        assert rtt_ms(sock) < 100


def test_update_moves_the_proxy(api: ToxiproxyClient, proxy: Proxy, echo: EchoServer) -> None:
    old_port = proxy.port
    proxy.update(listen="127.0.0.1:0")
    assert proxy.port != old_port and proxy.enabled
    with connect(proxy.port) as sock:
        assert rtt_ms(sock) < 100
    proxy.update(upstream="127.0.0.1:9")
    assert api.get_proxy("echo").upstream == "127.0.0.1:9"


def test_populate_and_reset(api: ToxiproxyClient, echo: EchoServer) -> None:
    created = api.populate([{"name": "b", "upstream": echo.address}, {"name": "a", "upstream": echo.address}])
    assert [p.name for p in created] == ["b", "a"]
    assert all(p.host == "127.0.0.1" for p in created)  # a missing listen means loopback, port 0
    assert api.populate([]) == []
    created[0].add_toxic("noop")
    created[1].disable()
    api.reset()
    proxies = api.proxies()
    assert all(p.enabled for p in proxies.values())
    assert all(p.toxics() == [] for p in proxies.values())
    with pytest.raises(BadRequest, match="missing required field: upstream at proxy 1"):
        api.populate([{"name": "c"}])


def test_names_needing_escapes_are_addressable(api: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = api.create_proxy("a b?c", echo.address)
    proxy.add_toxic("noop", name="n o")
    assert api.get_proxy("a b?c").name == "a b?c"
    assert [t.name for t in proxy.toxics()] == ["n o"]
    proxy.remove_toxic("n o")
    proxy.delete()


def test_unreachable_server_is_unavailable() -> None:
    with ToxiproxyClient("127.0.0.1:1", timeout=1.0) as client:
        assert client.url == "http://127.0.0.1:1"
        assert not client.is_running()
        with pytest.raises(
            ToxiproxyUnavailable, match=r"cannot reach Toxiproxy at http://127\.0\.0\.1:1"
        ) as exc_info:
            client.proxies()
    assert exc_info.value.status is None
