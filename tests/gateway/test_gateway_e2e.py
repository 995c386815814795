"""The gateway end to end over real sockets: upstreams healthy, slow, failing, broken and down."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from harness.scenario import load_scenario
from resilience.dlq.app import create_app as create_dlq_app
from resilience.dlq.settings import Settings
from stubs.gateway.app import create_app as create_gateway_app
from stubs.gateway.config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from stubs.gateway.upstreams import UpstreamClient, UpstreamStatusError
from stubs.platform import Platform
from stubs.server import StubServer

WEATHER = "/weather/{location}"


def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy (bounded); the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def breaker(gateway: httpx.Client, name: str) -> dict[str, Any]:
    state: dict[str, Any] = gateway.get("/resilience/breakers").json()["breakers"][name]
    return state


def assert_error_envelope(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "traceback" not in response.text.lower()


def test_healthy_upstreams_give_live_unmarked_answers(gateway: httpx.Client, platform: Platform) -> None:
    response = gateway.get("/forecast/north", headers={"X-Request-ID": "trace-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["degraded"] is False and body["fallbacks"] == {} and "x-fallback" not in response.headers
    assert body["weather"]["location"] == "north" and body["prediction"]["region"] == "north"
    # One user request, one call to each upstream, carrying the caller's request id.
    [record] = platform.control("weather-service").requests()["requests"]
    assert record["request_id"] == "trace-1"
    assert platform.control("prediction-service").count() == 1
    profile = gateway.get("/users/5").json()
    assert profile["user_id"] == "5" and profile["degraded"] is False
    assert gateway.get("/health").json() == {
        "status": "ok",
        "breakers": dict.fromkeys(
            ["user-service", "weather-service", "prediction-service", "processing-service"], "CLOSED"
        ),
    }


def test_job_is_processed_once_when_processing_is_healthy(gateway: httpx.Client, platform: Platform) -> None:
    response = gateway.post("/jobs", json={"kind": "recompute", "region": "north"})
    assert response.status_code == 200
    job_id = response.json()["job_id"]
    processed = httpx.get(platform.urls["processing-service"] + "/messages").json()
    assert processed["per_key"] == {job_id: 1}
    assert processed["messages"][0]["payload"]["kind"] == "recompute"


def test_slow_upstream_times_out_per_attempt_and_falls_back(
    gateway: httpx.Client, platform: Platform
) -> None:
    weather = platform.control("weather-service")
    weather.set_behaviour(latency=1500)  # every attempt overruns the 0.5 s attempt timeout
    started = time.monotonic()
    response = gateway.get("/forecast/south")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.headers["x-fallback"] == "weather-service=default"
    assert response.json()["weather"] == {"conditions": "unknown"} and response.json()["degraded"] is True
    assert weather.count(WEATHER) == 3  # max_attempts: the retry amplification a scenario measures
    assert elapsed < 1.5 * 3  # attempts were cut at their timeout, not left to finish


def test_failing_upstream_opens_the_breaker_serves_last_known_good_and_recovers(
    gateway: httpx.Client, platform: Platform
) -> None:
    weather = platform.control("weather-service")
    live = gateway.get("/forecast/east").json()["weather"]
    weather.set_behaviour(error_rate=1.0, error_status=[503])
    degraded = gateway.get("/forecast/east")
    assert degraded.status_code == 200
    assert degraded.headers["x-fallback"] == "weather-service=last_known_good"
    assert degraded.json()["weather"] == live and degraded.json()["fallbacks"] == {
        "weather-service": "last_known_good"
    }
    assert breaker(gateway, "weather-service")["state"] == "OPEN"  # 3 failed attempts in a row
    calls = weather.count(WEATHER)
    for _ in range(5):
        assert gateway.get("/forecast/east").headers["x-fallback"] == "weather-service=last_known_good"
    assert weather.count(WEATHER) == calls  # open: the upstream is left alone
    assert gateway.get("/health").json()["status"] == "degraded"

    weather.clear_behaviour()
    time.sleep(1.1)  # recovery_timeout
    recovered = eventually(lambda: "x-fallback" not in gateway.get("/forecast/east").headers, timeout=5)
    assert recovered
    assert breaker(gateway, "weather-service")["state"] == "CLOSED"


def test_breaker_reopens_when_the_half_open_probe_fails(gateway: httpx.Client, platform: Platform) -> None:
    weather = platform.control("weather-service")
    weather.set_behaviour(error_rate=1.0)
    gateway.get("/forecast/west")
    assert breaker(gateway, "weather-service")["state"] == "OPEN"
    time.sleep(1.1)
    calls = weather.count(WEATHER)
    gateway.get("/forecast/west")  # the probe fails: open again, no retry through an open breaker
    assert weather.count(WEATHER) == calls + 1
    assert breaker(gateway, "weather-service")["state"] == "OPEN"


@pytest.mark.parametrize(
    "behaviour",
    [
        {"drop_rate": 1.0},
        {"drop_rate": 1.0, "drop_mode": "reset"},
        {"body_fault": "truncate"},
        {"body_fault": "malformed"},
        {"error_rate": 1.0, "error_status": [429], "retry_after_s": 1},
    ],
    ids=["dropped", "reset", "truncated", "malformed", "429-retry-after"],
)
def test_broken_responses_are_failures_served_by_fallback(
    gateway: httpx.Client, platform: Platform, behaviour: dict[str, Any]
) -> None:
    platform.control("user-service").set_behaviour(behaviour)
    response = gateway.get("/users/8")
    assert response.status_code == 200
    assert response.headers["x-fallback"] == "user-service=default"
    assert response.json() == {
        "name": "Unknown", "user_id": "8", "degraded": True, "fallbacks": {"user-service": "default"},
    }  # fmt: skip
    assert platform.control("user-service").count() == 2  # both attempts were made


def test_fail_first_is_absorbed_by_retry_without_fallback(gateway: httpx.Client, platform: Platform) -> None:
    platform.control("weather-service").set_behaviour(fail_first=2)
    response = gateway.get("/forecast/north", headers={"X-Request-ID": "amp-1"})
    assert response.status_code == 200 and response.json()["degraded"] is False
    records = platform.control("weather-service").requests(route=WEATHER)["requests"]
    # Retry amplification, attributed: one user request, three upstream calls carrying its id.
    assert [(r["request_id"], r["status"]) for r in records] == [
        ("amp-1", 503),
        ("amp-1", 503),
        ("amp-1", 200),
    ]


def test_down_upstream_falls_back_then_recovers_when_it_returns(
    gateway: httpx.Client, platform: Platform
) -> None:
    assert gateway.get("/users/3").json()["degraded"] is False
    server = platform.servers["user-service"]
    server.stop()
    try:
        for _ in range(3):
            response = gateway.get("/users/3")
            assert response.headers["x-fallback"] == "user-service=last_known_good"
            assert response.json()["email"] == "user3@example.com"
        assert breaker(gateway, "user-service")["state"] == "OPEN"
    finally:
        server.start()
    assert eventually(lambda: gateway.get("/users/3").json()["degraded"] is False, timeout=5)


def test_job_is_dead_lettered_exactly_once_then_redelivered(
    gateway: httpx.Client, platform: Platform, dlq: str
) -> None:
    processing = platform.control("processing-service")
    processing.set_behaviour(error_rate=1.0, error_status=[503])
    response = gateway.post("/jobs", json={"kind": "recompute", "region": "south"})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued for retry" and body["dead_lettered"] is True and body["spooled"] is False
    assert response.headers["x-fallback"] == "processing-service=dead_letter"
    assert processing.count() == 3  # every attempt was made before dead-lettering
    with httpx.Client(base_url=dlq, timeout=5) as client:
        messages = client.get("/messages", params={"source_queue": "gateway-jobs", "limit": 1000}).json()[
            "messages"
        ]
        mine = [
            m
            for m in messages
            if client.get(f"/messages/{m['message_id']}").json()["payload"]["job_id"] == body["job_id"]
        ]
        assert len(mine) == 1 and mine[0]["message_id"] == body["dlq_message_id"]
        assert mine[0]["destination_service"] == "processing-service"
        # Processing recovers: the DLQ worker redelivers through the registry, once.
        processing.clear_behaviour()
        processed = eventually(
            lambda: httpx.get(platform.urls["processing-service"] + "/messages").json()["per_key"], timeout=10
        )
        assert processed == {body["job_id"]: 1}
        detail = eventually(
            lambda: (d := client.get(f"/messages/{body['dlq_message_id']}").json())["resolved"] and d
        )
        assert detail["status"] == "RESOLVED"


def test_jobs_without_a_dlq_fail_in_the_standard_format(
    make_gateway: Callable[..., httpx.Client], platform: Platform
) -> None:
    gateway = make_gateway(dlq_url=None)
    platform.control("processing-service").set_behaviour(error_rate=1.0, error_status=[500])
    assert_error_envelope(gateway.post("/jobs", json={"kind": "x"}), 502, "UPSTREAM_FAILED")
    gateway.post("/resilience/breakers/processing-service/open")
    refused = gateway.post("/jobs", json={"kind": "x"})
    assert_error_envelope(refused, 503, "CIRCUIT_OPEN")
    assert platform.control("processing-service").count() == 3  # the forced-open breaker let none through


def test_error_responses_keep_the_standard_format(gateway: httpx.Client) -> None:
    assert_error_envelope(gateway.get("/users/424242"), 404, "NOT_FOUND")
    assert_error_envelope(gateway.post("/jobs", json={"kind": ""}), 400, "VALIDATION_ERROR")
    assert_error_envelope(gateway.post("/jobs", content=b"{oops"), 400, "VALIDATION_ERROR")
    assert_error_envelope(gateway.get("/forecast/" + "x" * 100), 400, "VALIDATION_ERROR")
    assert_error_envelope(gateway.post("/resilience/breakers/nope/open"), 404, "NOT_FOUND")
    assert_error_envelope(gateway.post("/resilience/breakers/user-service/melt"), 400, "VALIDATION_ERROR")
    assert_error_envelope(gateway.get("/no/such/route"), 404, "HTTP_404")


def test_a_job_sent_without_a_json_content_type_gets_a_helpful_415(
    gateway: httpx.Client, platform: Platform
) -> None:
    """``curl -d`` sends form encoding; FastAPI alone answers an unhelpful 400 "Must be an object"."""
    job = b'{"kind": "recompute", "region": "north"}'
    response = gateway.post(
        "/jobs", content=job, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "Content-Type: application/json" in response.json()["error"]["detail"]
    assert platform.control("processing-service").count() == 0
    for headers in ({"Content-Type": "application/json; charset=utf-8"}, {}):  # no header: taken as JSON
        assert gateway.post("/jobs", content=job, headers=headers).json()["status"] == "processed"


SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _job_bodies_sent_today() -> list[Any]:
    """Every body the shipped scenarios' probes POST to /jobs, plus the locustfile's (whose region is
    one of north/south/east/west): what the stricter job schema must keep accepting."""
    bodies: list[Any] = [{"kind": "recompute", "region": region} for region in ("north", "west")]
    for path in sorted(SCENARIOS.glob("*.yaml")):
        for probe in load_scenario(path).probes.values():
            if probe.http is not None and probe.http.method == "POST" and probe.http.path == "/jobs":
                bodies.append(probe.http.body)
    return bodies


def test_a_job_with_a_field_outside_the_schema_is_refused(gateway: httpx.Client, platform: Platform) -> None:
    response = gateway.post("/jobs", json={"kind": "recompute", "region": "north", "priority": "high"})
    assert_error_envelope(response, 400, "VALIDATION_ERROR")
    [problem] = response.json()["error"]["context"]["errors"]
    assert (problem["pointer"], problem["type"]) == ("/priority", "extra_forbidden")
    assert platform.control("processing-service").count() == 0

    bodies = _job_bodies_sent_today()
    assert {"kind": "report", "region": "north"} in bodies  # slow-dlq.yaml's probe was found
    for body in bodies:
        assert gateway.post("/jobs", json=body).json()["status"] == "processed", body
    assert platform.control("processing-service").count() == len(bodies)


def test_a_job_body_over_the_configured_limit_is_a_413(
    make_gateway: Callable[..., httpx.Client], platform: Platform
) -> None:
    gateway = make_gateway(extra={"max_body_bytes": 1024})
    big = {"kind": "recompute", "region": "north", "pad": "x" * 2000}
    response = gateway.post("/jobs", json=big)
    assert_error_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert "1024 bytes" in response.json()["error"]["detail"]

    def chunked() -> Any:  # no Content-Length: the limit holds while the body is read
        yield b'{"kind": "'
        for _ in range(4):
            yield b"x" * 512
        yield b'"}'

    streamed = gateway.post("/jobs", content=chunked(), headers={"Content-Type": "application/json"})
    assert_error_envelope(streamed, 413, "PAYLOAD_TOO_LARGE")
    assert platform.control("processing-service").count() == 0
    # Just under the limit (whitespace is legal JSON) is read and processed as usual.
    padded = b'{"kind": "recompute",' + b" " * 980 + b'"region": "north"}'
    assert len(padded) <= 1024
    assert gateway.post("/jobs", content=padded).json()["status"] == "processed"
    assert platform.control("processing-service").count() == 1


def test_the_default_body_limit_is_64_kib_and_the_limit_must_be_positive(
    gateway: httpx.Client, tmp_path: Path
) -> None:
    assert load_config(environ={}).max_body_bytes == 65536
    over = b'{"kind": "' + b"x" * 65536 + b'"}'
    assert_error_envelope(gateway.post("/jobs", content=over), 413, "PAYLOAD_TOO_LARGE")
    path = tmp_path / "zero.json"
    path.write_text(json.dumps({**json.loads(DEFAULT_CONFIG_PATH.read_text()), "max_body_bytes": 0}))
    with pytest.raises(ConfigError, match="max_body_bytes"):
        load_config(path, environ={})


def test_an_unknown_breaker_is_named_with_the_known_ones(gateway: httpx.Client) -> None:
    response = gateway.post("/resilience/breakers/nope/open")
    assert_error_envelope(response, 404, "NOT_FOUND")
    detail = response.json()["error"]["detail"]
    assert "'nope'" in detail and "weather-service" in detail


def test_manual_override_open_close_reset(gateway: httpx.Client, platform: Platform) -> None:
    weather = platform.control("weather-service")
    assert gateway.post("/resilience/breakers/weather-service/open").json()["state"] == "FORCED_OPEN"
    assert gateway.get("/forecast/north").headers["x-fallback"] == "weather-service=default"
    assert weather.count() == 0
    assert gateway.post("/resilience/breakers/weather-service/close").json()["state"] == "DISABLED"
    weather.set_behaviour(error_rate=1.0)
    for _ in range(3):
        gateway.get("/forecast/north")
    assert breaker(gateway, "weather-service")["state"] == "DISABLED"  # forced closed never trips
    assert gateway.post("/resilience/breakers/weather-service/reset").json()["state"] == "CLOSED"


def test_metrics_count_fallbacks_and_show_breaker_state(gateway: httpx.Client, platform: Platform) -> None:
    platform.control("weather-service").set_behaviour(error_rate=1.0)
    gateway.get("/forecast/north")
    text = gateway.get("/metrics").text
    assert 'gateway_fallbacks_total{strategy="default",upstream="weather-service"} 1.0' in text
    assert 'gateway_breaker_state{breaker="weather-service"} 1.0' in text
    assert 'gateway_requests_total{route="/forecast/{region}",status="200"} 1.0' in text


def test_policy_values_come_from_the_environment_too(
    make_gateway: Callable[..., httpx.Client], platform: Platform
) -> None:
    gateway = make_gateway(
        environ={
            "RESILIENCE__WEATHER_SERVICE__FALLBACK__STRATEGY": "none",
            "RESILIENCE__WEATHER_SERVICE__RETRY__MAX_ATTEMPTS": "1",
        }
    )
    platform.control("weather-service").set_behaviour(error_rate=1.0)
    assert_error_envelope(gateway.get("/forecast/north"), 502, "UPSTREAM_FAILED")
    assert platform.control("weather-service").count() == 1


def test_forced_fallback_toggle_skips_the_upstream(
    make_gateway: Callable[..., httpx.Client], platform: Platform
) -> None:
    gateway = make_gateway(extra={"toggles": {"force_fallback": ["user-service"]}})
    response = gateway.get("/users/2")
    assert response.headers["x-fallback"] == "user-service=default"
    assert platform.control("user-service").count() == 0
    assert "x-fallback" not in gateway.get("/forecast/north").headers  # other upstreams unaffected


def test_job_is_spooled_locally_when_the_dlq_is_unreachable(
    make_gateway: Callable[..., httpx.Client], platform: Platform, tmp_path: Path
) -> None:
    gateway = make_gateway(
        dlq_url="http://127.0.0.1:9", extra={"dlq": {"spool_path": str(tmp_path / "spool.db")}}
    )
    platform.control("processing-service").set_behaviour(error_rate=1.0)
    response = gateway.post("/jobs", json={"kind": "recompute"})
    assert response.status_code == 202
    body = response.json()
    assert (body["dead_lettered"], body["spooled"], body["dlq_message_id"]) == (True, True, None)
    assert (tmp_path / "spool.db").exists()


def test_job_fails_in_the_standard_format_when_dlq_and_spool_are_missing(
    make_gateway: Callable[..., httpx.Client], platform: Platform
) -> None:
    gateway = make_gateway(dlq_url="http://127.0.0.1:9")
    platform.control("processing-service").set_behaviour(error_rate=1.0)
    assert_error_envelope(gateway.post("/jobs", json={"kind": "x"}), 502, "DLQ_UNAVAILABLE")


def test_a_dlq_that_refuses_the_job_is_a_502_not_the_callers_fault(
    make_gateway: Callable[..., httpx.Client], platform: Platform, tmp_path: Path
) -> None:
    """A gateway with the wrong DLQ key used to pass the DLQ's 401 on as a 400 'Bad request.'."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'keyed.db'}", api_key="right", worker_enabled=False
    )
    with StubServer(create_dlq_app(settings), name="keyed-dlq") as keyed_dlq:
        gateway = make_gateway(dlq_url=keyed_dlq.url, extra={"dlq": {"api_key": "wrong"}})
        platform.control("processing-service").set_behaviour(error_rate=1.0)
        response = gateway.post("/jobs", json={"kind": "recompute"})
    assert_error_envelope(response, 502, "JOB_NOT_QUEUED")
    detail = response.json()["error"]["detail"]
    assert "refused job" in detail and "HTTP 401" in detail and "not queued" in detail


def test_a_dlq_url_that_is_not_http_stops_the_gateway_at_startup() -> None:
    with pytest.raises(ConfigError, match=r"dlq.url .* must be an http\(s\) URL, got 'ftp://dlq'"):
        load_config(dlq_url="ftp://dlq", environ={})


def test_an_http_date_retry_after_from_an_upstream_is_kept() -> None:
    """Only delta-seconds were read; an HTTP-date was dropped, so the retry ignored the upstream's wish."""
    app = FastAPI()
    later = email.utils.formatdate(time.time() + 30, usegmt=True)

    @app.get("/busy")
    async def busy() -> JSONResponse:
        return JSONResponse({}, status_code=503, headers={"Retry-After": later})

    async def call(url: str) -> UpstreamStatusError:
        client = UpstreamClient("dated", url, timeout=5)
        try:
            await client.request("GET", "/busy")
        except UpstreamStatusError as error:
            return error
        finally:
            await client.aclose()
        raise AssertionError("a 503 must raise UpstreamStatusError")

    with StubServer(app, name="dated") as server:
        error = asyncio.run(call(server.url))
    assert error.status == 503 and error.retry_after is not None and 20 < error.retry_after <= 31


def test_an_unusable_dlq_spool_path_stops_the_gateway_with_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    config = load_config(dlq_url="http://127.0.0.1:9", environ={})
    config = config.model_copy(
        update={"dlq": config.dlq.model_copy(update={"spool_path": str(tmp_path / "a-file" / "x.db")})}
    )
    with pytest.raises(ConfigError, match=r"dlq\.spool_path: cannot open the DLQ spool at"):
        create_gateway_app(config, environ={})
