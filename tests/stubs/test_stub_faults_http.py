"""Every stub behaviour observed over real HTTP on loopback, set through the admin API."""

from __future__ import annotations

import itertools
import json
import socket
import time

import httpx
import pytest

from stubs.control import StubControl, StubControlError
from stubs.platform import Platform

ROUTE = "/weather/{location}"


@pytest.fixture
def weather(platform: Platform) -> StubControl:
    return platform.control("weather-service")


@pytest.fixture
def url(platform: Platform) -> str:
    return platform.urls["weather-service"] + "/weather/north"


def test_healthy_stub_answers_and_echoes_request_id(
    client: httpx.Client, url: str, weather: StubControl
) -> None:
    response = client.get(url, headers={"X-Request-ID": "req-1"})
    assert response.status_code == 200 and response.json()["location"] == "north"
    assert response.headers["x-request-id"] == "req-1"
    [record] = weather.requests()["requests"]
    assert (record["request_id"], record["route"], record["status"], record["outcome"]) == (
        "req-1",
        ROUTE,
        200,
        "ok",
    )


def test_fixed_latency_delays_the_answer(client: httpx.Client, url: str, weather: StubControl) -> None:
    weather.set_behaviour(latency=300)
    started = time.perf_counter()
    assert client.get(url).status_code == 200
    assert time.perf_counter() - started >= 0.29


def test_error_rate_with_statuses_body_and_retry_after(
    client: httpx.Client, url: str, weather: StubControl
) -> None:
    weather.set_behaviour(
        error_rate=1.0, error_status=[502, 504], error_body={"oops": True}, retry_after_s=7, seed=5
    )
    responses = [client.get(url) for _ in range(20)]
    assert {r.status_code for r in responses} == {502, 504}
    assert all(r.json() == {"oops": True} and r.headers["retry-after"] == "7" for r in responses)
    assert weather.requests()["counts"] == {ROUTE: 20}


def test_default_error_body_is_json_with_a_code(client: httpx.Client, url: str, weather: StubControl) -> None:
    weather.set_behaviour(error_rate=1.0)
    response = client.get(url)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "INJECTED_FAULT"
    assert "retry-after" not in response.headers


def test_text_error_body(client: httpx.Client, url: str, weather: StubControl) -> None:
    weather.set_behaviour(error_rate=1.0, error_status=[500], error_body="boom")
    response = client.get(url)
    assert (response.status_code, response.text) == (500, "boom")
    assert response.headers["content-type"].startswith("text/plain")


def test_fail_first_n_then_succeed(client: httpx.Client, url: str, weather: StubControl) -> None:
    weather.set_behaviour(fail_first=2, error_status=[503])
    assert [client.get(url).status_code for _ in range(4)] == [503, 503, 200, 200]


def test_same_seed_gives_same_statuses_over_http(
    client: httpx.Client, url: str, weather: StubControl
) -> None:
    runs = []
    for _ in range(2):
        weather.set_behaviour(error_rate=0.5, error_status=[500, 503], seed=42)
        runs.append([client.get(url).status_code for _ in range(30)])
    assert runs[0] == runs[1]
    assert {200, 500, 503} <= set(runs[0])


def test_looping_schedule_flaps(client: httpx.Client, url: str, weather: StubControl) -> None:
    weather.set_behaviour(
        loop=True,
        schedule=[
            {"duration_s": 0.4, "fault": {"error_rate": 1.0, "error_status": [503]}},
            {"duration_s": 0.4, "fault": {}},
        ],
    )
    seen = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        seen.append(client.get(url).status_code)
        time.sleep(0.05)
    changes = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    assert {200, 503} == set(seen)
    assert changes >= 3  # down, up, down, ... at least three transitions in two seconds
    assert weather.get_behaviour()["cycle"] >= 2


def test_route_scope(client: httpx.Client, platform: Platform) -> None:
    user = platform.control("user-service")
    user.set_behaviour(error_rate=1.0, routes=["/users/1*"])
    base = platform.urls["user-service"]
    assert client.get(f"{base}/users/12").status_code == 503
    assert client.get(f"{base}/users/2").status_code == 200


def test_slow_headers_delay_after_the_handler_ran(client: httpx.Client, platform: Platform) -> None:
    processing = platform.control("processing-service")
    base = platform.urls["processing-service"]
    processing.set_behaviour(headers_delay_ms=1500)
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"{base}/messages", json={"job_id": "j-1"}, timeout=0.3)
    # The client gave up, yet the message was processed: the classic duplicate-on-retry trap.
    assert client.get(f"{base}/messages").json()["per_key"] == {"j-1": 1}


def test_slow_body_drips(url: str, weather: StubControl) -> None:
    weather.set_behaviour(slow_body={"chunk_bytes": 10, "interval_ms": 40})
    with httpx.Client(timeout=10) as http, http.stream("GET", url) as response:
        started = time.perf_counter()
        chunks = list(response.iter_raw())
        elapsed = time.perf_counter() - started
    body = b"".join(chunks)
    assert json.loads(body)["location"] == "north"
    expected_gaps = (len(body) + 9) // 10 - 1
    assert elapsed >= 0.04 * expected_gaps * 0.8


def test_truncated_body_breaks_the_client_read(client: httpx.Client, url: str, weather: StubControl) -> None:
    weather.set_behaviour(body_fault="truncate")
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|complete message body"):
        client.get(url)
    assert weather.requests()["requests"][-1]["outcome"] == "truncated"


def test_malformed_body_is_invalid_json(client: httpx.Client, url: str, weather: StubControl) -> None:
    weather.set_behaviour(body_fault="malformed")
    response = client.get(url)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_dropped_connection_sends_no_response(client: httpx.Client, url: str, weather: StubControl) -> None:
    weather.set_behaviour(drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        client.get(url)
    assert weather.requests()["requests"][-1]["outcome"] == "dropped"


def test_dropped_connection_reset_mode_sends_rst(platform: Platform, weather: StubControl) -> None:
    weather.set_behaviour(drop_rate=1.0, drop_mode="reset")
    port = int(platform.urls["weather-service"].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /weather/x HTTP/1.1\r\nHost: stub\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            while sock.recv(1024):
                pass


def test_admin_and_health_are_never_faulted(
    client: httpx.Client, platform: Platform, weather: StubControl
) -> None:
    weather.set_behaviour(drop_rate=1.0)
    assert client.get(platform.urls["weather-service"] + "/health").json()["status"] == "healthy"
    assert weather.get_behaviour()["behaviour"]["drop_rate"] == 1.0
    assert weather.count() == 0


def test_bad_admin_input_is_422_with_a_clear_message(client: httpx.Client, platform: Platform) -> None:
    base = platform.urls["weather-service"]
    response = client.put(f"{base}/_admin/behaviour", json={"error_rate": 2, "latency": {"kind": "warp"}})
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "error_rate" in message and "latency" in message
    response = client.put(f"{base}/_admin/behaviour", content=b"{not json")
    assert response.status_code == 422 and "json" in response.json()["error"]["message"].lower()
    with pytest.raises(StubControlError, match="fail_first"):
        platform.control("weather-service").set_behaviour(fail_first=-1)


@pytest.mark.parametrize("query", ["limit=many", "limit=-1", "limit=100001", "limit=2.5"])
def test_bad_requests_query_is_422_in_the_stubs_error_format(
    client: httpx.Client, platform: Platform, query: str
) -> None:
    base = platform.urls["weather-service"]
    response = client.get(f"{base}/_admin/requests?route=/weather/{{location}}&{query}")
    assert response.status_code == 422
    body = response.json()
    assert list(body) == ["error"] and body["error"]["code"] == "INVALID_QUERY"
    assert body["error"]["message"].startswith("invalid query for weather-service: limit: ")
    assert f"(got {query.partition('=')[2]!r})" in body["error"]["message"]
    with pytest.raises(StubControlError, match=r"HTTP 422: invalid query for weather-service: limit: "):
        platform.control("weather-service").requests(limit=-1)


def test_requests_query_still_filters_and_limits(client: httpx.Client, platform: Platform) -> None:
    base = platform.urls["weather-service"]
    for region in ("north", "south", "east"):
        assert client.get(f"{base}/weather/{region}").status_code == 200
    client.get(f"{base}/nothing-here")
    snapshot = client.get(f"{base}/_admin/requests", params={"route": "/weather/{location}", "limit": "2"})
    assert snapshot.status_code == 200
    assert [r["path"] for r in snapshot.json()["requests"]] == ["/weather/south", "/weather/east"]
    everything = client.get(f"{base}/_admin/requests", params={"limit": "0", "other": "ignored"}).json()
    assert everything["requests"] == [] and everything["total"] == 4


def test_control_accepts_a_model(client: httpx.Client, url: str, weather: StubControl) -> None:
    from stubs.behaviour import Behaviour, FixedLatency

    weather.set_behaviour(Behaviour(latency=FixedLatency(ms=50), fail_first=1, error_status=[502]))
    assert weather.get_behaviour()["behaviour"]["latency"] == {"kind": "fixed", "ms": 50.0}
    assert [client.get(url).status_code for _ in range(2)] == [502, 200]


def test_behaviour_context_manager_clears_on_exit(
    client: httpx.Client, url: str, weather: StubControl
) -> None:
    with weather.behaviour(error_rate=1.0):
        assert client.get(url).status_code == 503
    assert client.get(url).status_code == 200
