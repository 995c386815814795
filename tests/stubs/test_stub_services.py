"""Payloads of each stub, the registry's Consul API, recording and reset, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from stubs.control import StubControl, StubControlError
from stubs.platform import GATEWAY, PORT_OFFSETS, Platform
from stubs.recorder import RequestRecorder
from stubs.server import StubServer
from stubs.services import REGISTRY, UPSTREAMS, user


def test_registry_lists_every_upstream_like_consul(client: httpx.Client, platform: Platform) -> None:
    registry = platform.urls["service-registry"]
    assert set(client.get(f"{registry}/v1/catalog/services").json()) == {
        "user-service",
        "weather-service",
        "prediction-service",
        "processing-service",
    }
    [entry] = client.get(f"{registry}/v1/catalog/service/weather-service").json()
    assert entry["ServiceName"] == "weather-service"
    assert f"http://{entry['ServiceAddress']}:{entry['ServicePort']}" == platform.urls["weather-service"]
    assert client.get(f"{registry}/v1/catalog/service/nope").json() == []


def test_registry_register_deregister_and_reset(client: httpx.Client, platform: Platform) -> None:
    registry = platform.urls["service-registry"]
    body = {"Name": "weather-service", "ID": "weather-2", "Address": "127.0.0.1", "Port": 9, "Tags": ["b"]}
    assert client.put(f"{registry}/v1/agent/service/register", json=body).status_code == 200
    assert len(client.get(f"{registry}/v1/catalog/service/weather-service").json()) == 2
    assert client.put(f"{registry}/v1/agent/service/deregister/weather-service").status_code == 200
    [left] = client.get(f"{registry}/v1/catalog/service/weather-service").json()
    assert (left["ServiceID"], left["ServicePort"], left["ServiceTags"]) == ("weather-2", 9, ["b"])
    assert client.put(f"{registry}/v1/agent/service/deregister/ghost").status_code == 404
    bad = client.put(f"{registry}/v1/agent/service/register", json={"Name": "x", "Port": 70000})
    assert bad.status_code == 400 and "Port" in bad.json()["error"]["message"]
    platform.control("service-registry").reset()
    [back] = client.get(f"{registry}/v1/catalog/service/weather-service").json()
    assert back["ServiceID"] == "weather-service"


def test_user_service_payload_is_stable_and_unknown_is_404(client: httpx.Client, platform: Platform) -> None:
    base = platform.urls["user-service"]
    first, again = client.get(f"{base}/users/7").json(), client.get(f"{base}/users/7").json()
    assert first == again and first["user_id"] == "7" and first["email"] == "user7@example.com"
    assert client.get(f"{base}/users/99999").status_code == 404
    assert client.get(f"{base}/users/abc").json()["error"]["code"] == "USER_NOT_FOUND"


def test_prediction_payload(client: httpx.Client, platform: Platform) -> None:
    body = client.get(platform.urls["prediction-service"] + "/predictions/north?horizon_hours=3").json()
    assert body["region"] == "north" and body["unit"] == "MW" and len(body["points"]) == 3
    assert (
        client.get(platform.urls["prediction-service"] + "/predictions/x?horizon_hours=0").status_code == 422
    )


def test_processing_counts_deliveries_per_key_and_resets(client: httpx.Client, platform: Platform) -> None:
    base = platform.urls["processing-service"]
    assert client.post(f"{base}/messages", json={"job_id": "a"}).json()["deliveries"] == 1
    assert client.post(f"{base}/messages", json={"job_id": "a"}).json()["deliveries"] == 2
    client.post(f"{base}/messages", json={"x": 1}, headers={"Idempotency-Key": "k"})
    assert client.post(f"{base}/messages", content=b"[1]").status_code == 422
    processed = client.get(f"{base}/messages").json()
    assert processed["per_key"] == {"a": 2, "k": 1} and processed["total"] == 3
    platform.control("processing-service").reset()
    assert client.get(f"{base}/messages").json() == {"total": 0, "per_key": {}, "messages": []}


def test_recorder_counts_by_route_template_and_filters(client: httpx.Client, platform: Platform) -> None:
    base = platform.urls["user-service"]
    for i in range(3):
        client.get(f"{base}/users/{i + 1}", headers={"X-Request-ID": f"r{i}"})
    client.get(f"{base}/nothing-here")
    control = platform.control("user-service")
    snapshot = control.requests(route="/users/{user_id}")
    assert snapshot["counts"] == {"/users/{user_id}": 3, "unmatched": 1}
    assert [r["request_id"] for r in snapshot["requests"]] == ["r0", "r1", "r2"]
    assert control.count() == 4 and control.count("/users/{user_id}") == 3
    assert len(control.requests(limit=1)["requests"]) == 1
    control.reset()
    assert control.requests() == {"total": 0, "counts": {}, "requests": []}


def test_ring_buffer_is_bounded_but_counts_are_exact() -> None:
    recorder = RequestRecorder(capacity=5)
    for i in range(12):
        recorder.arrived("GET", f"/users/{i}", "/users/{user_id}", None)
    snapshot = recorder.snapshot()
    assert snapshot["total"] == 12 and len(snapshot["requests"]) == 5
    assert [r["seq"] for r in snapshot["requests"]] == [8, 9, 10, 11, 12]
    with pytest.raises(ValueError, match="capacity"):
        RequestRecorder(capacity=0)


def test_server_restarts_on_the_same_port() -> None:
    server = StubServer(user.create_app(), name="user")
    with server:
        port = server.port
        assert httpx.get(f"{server.url}/health").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health")
    with server:
        assert server.port == port and httpx.get(f"{server.url}/health").status_code == 200


def test_platform_rejects_unknown_services() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        Platform(services=["billing-service"])
    with pytest.raises(ValueError, match="unknown service"):
        Platform(ports={"weather": 1})


def test_control_of_an_unreachable_stub_says_so() -> None:
    server = StubServer(user.create_app(), name="user").start()
    server.stop()
    with StubControl(server.url) as control, pytest.raises(StubControlError, match="unreachable"):
        control.reset()


def test_fixed_ports_cover_every_service_once() -> None:
    # stubs.ports spells the names out (it imports nothing); they must be the platform's own.
    assert set(PORT_OFFSETS) == {GATEWAY, REGISTRY, *UPSTREAMS}
    assert sorted(PORT_OFFSETS.values()) == list(range(len(PORT_OFFSETS)))


def test_each_upstream_factory_builds_a_fresh_app_of_its_own() -> None:
    for name, create_app in UPSTREAMS.items():
        first, second = create_app(), create_app()
        assert first is not second and first.title == name
