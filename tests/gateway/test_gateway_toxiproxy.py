"""The gateway behind Toxiproxy: TCP-level faults on the way to each upstream, through the harness
client, on the embedded server and (when installed) the real ``toxiproxy-server``."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from harness.toxiproxy.client import Proxy, ToxiproxyClient, ToxiproxyUnavailable
from harness.toxiproxy.discovery import acquire_toxiproxy
from stubs.platform import Platform


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("binary", marks=pytest.mark.real_toxiproxy)],
)
def toxiproxy(request: pytest.FixtureRequest) -> Iterator[ToxiproxyClient]:
    if request.param == "binary" and shutil.which("toxiproxy-server") is None:
        pytest.skip("toxiproxy-server is not on PATH")
    try:
        with acquire_toxiproxy(prefer=request.param) as handle:
            yield handle.client
    except ToxiproxyUnavailable as error:
        pytest.skip(f"{request.param} Toxiproxy unavailable: {error}")


@pytest.fixture
def proxies(toxiproxy: ToxiproxyClient, upstream_urls: dict[str, str]) -> Iterator[dict[str, Proxy]]:
    """One proxy per upstream, on a free port, removed after the test."""
    created = {
        name: toxiproxy.create_proxy(f"{name}-{time.monotonic_ns()}", url.removeprefix("http://"))
        for name, url in upstream_urls.items()
    }
    yield created
    for proxy in created.values():
        proxy.delete()


@pytest.fixture
def proxied_gateway(
    make_gateway: Callable[..., httpx.Client], proxies: dict[str, Proxy], dlq: str
) -> httpx.Client:
    return make_gateway(urls={n: f"http://127.0.0.1:{p.port}" for n, p in proxies.items()}, dlq_url=dlq)


def test_latency_below_the_timeout_is_absorbed(
    proxied_gateway: httpx.Client, proxies: dict[str, Proxy], platform: Platform
) -> None:
    with proxies["weather-service"].toxic("latency", latency=250):
        started = time.monotonic()
        response = proxied_gateway.get("/forecast/north")
        elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json()["degraded"] is False
    assert elapsed >= 0.22  # the toxic's delay is on the path (loose bound: a busy box only adds)
    assert platform.control("weather-service").count() == 1


def test_latency_above_the_timeout_falls_back_then_recovers(
    proxied_gateway: httpx.Client, proxies: dict[str, Proxy], platform: Platform
) -> None:
    assert proxied_gateway.get("/forecast/north").json()["degraded"] is False
    with proxies["weather-service"].toxic("latency", latency=1200):
        response = proxied_gateway.get("/forecast/north")
        assert response.headers["x-fallback"] == "weather-service=last_known_good"
        state = proxied_gateway.get("/resilience/breakers").json()["breakers"]["weather-service"]
        assert state["state"] == "OPEN"  # three timed-out attempts in a row
    time.sleep(1.1)
    assert proxied_gateway.get("/forecast/north").json()["degraded"] is False


def test_proxy_down_means_connection_refused_and_fallback(
    proxied_gateway: httpx.Client, proxies: dict[str, Proxy], platform: Platform
) -> None:
    assert proxied_gateway.get("/users/4").json()["degraded"] is False
    with proxies["user-service"].down():
        response = proxied_gateway.get("/users/4")
        assert response.headers["x-fallback"] == "user-service=last_known_good"
        assert response.json()["email"] == "user4@example.com"
    assert platform.control("user-service").count() == 1  # refused connections never reached it


def test_reset_peer_is_a_failure_served_by_default(
    proxied_gateway: httpx.Client, proxies: dict[str, Proxy]
) -> None:
    with proxies["prediction-service"].toxic("reset_peer", timeout=0):
        response = proxied_gateway.get("/forecast/east")
    assert response.status_code == 200
    assert response.json()["fallbacks"] == {"prediction-service": "default"}
    assert response.json()["prediction"] == {"points": []}


def test_job_is_dead_lettered_once_when_processing_is_unreachable(
    proxied_gateway: httpx.Client, proxies: dict[str, Proxy], dlq: str
) -> None:
    with proxies["processing-service"].down():
        response = proxied_gateway.post("/jobs", json={"kind": "recompute"})
    assert response.status_code == 202 and response.json()["dead_lettered"] is True
    detail = httpx.get(f"{dlq}/messages/{response.json()['dlq_message_id']}").json()
    assert detail["payload"]["job_id"] == response.json()["job_id"]
    assert "ConnectError" in detail["error_type"] or "Connect" in detail["error_message"]
