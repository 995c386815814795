"""Policies: composition order, per-attempt timeouts, configuration, environment overrides."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from resilience._clock import ManualClock
from resilience.breaker import CircuitBreaker, CircuitState
from resilience.errors import CircuitBreakerError, RetryError, UpstreamTimeoutError
from resilience.fallback import (
    TOGGLES,
    DefaultValueFallback,
    LastKnownGoodFallback,
    fallback_info,
    is_fallback,
)
from resilience.policy import AttemptTimeoutError, Policy, PolicyConfigError, PolicyRegistry, current_timeout
from resilience.retry import NonRetryableError, Retry, get_statistics

from .conftest import Upstream

SEED_CONFIG = {
    "services": {
        "user-service": {"failure_threshold": 5, "recovery_timeout": 30},
        "weather-service": {"failure_threshold": 3, "recovery_timeout": 60},
        "prediction-service": {"failure_threshold": 10, "recovery_timeout": 120},
    }
}


def fast_retry(clock: ManualClock, **kwargs: Any) -> Retry:
    return Retry(**{"max_attempts": 5, "jitter": None, "wrap": True, "clock": clock, **kwargs})


def test_retry_stops_at_once_when_the_breaker_opens(clock: ManualClock) -> None:
    breaker = CircuitBreaker(2, 30, name="users", clock=clock)
    policy = Policy("users", breaker=breaker, retry=fast_retry(clock))
    calls = []

    @policy
    def get_user() -> None:
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(CircuitBreakerError) as info:
        get_user()
    assert len(calls) == 2  # the second failure opened the breaker: no more waits, no more attempts
    assert info.value.name == "users" and info.value.retry_after == pytest.approx(30.0)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert clock.sleeps == [1.0]
    assert get_statistics(get_user).give_ups == {"circuit_open": 1}


def test_fallback_is_outermost_and_sees_only_the_final_outcome(clock: ManualClock) -> None:
    outcomes: list[Any] = [ConnectionError("blip"), {"id": 1}]

    def next_outcome() -> dict[str, int]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    breaker = CircuitBreaker(10, 30, name="users", clock=clock)
    policy = Policy(
        "users", breaker=breaker, retry=fast_retry(clock), fallback=DefaultValueFallback({"id": None})
    )
    result = policy(next_outcome)()
    assert result == {"id": 1} and not is_fallback(result)
    always_down = policy(lambda: next_outcome())
    outcomes[:] = [ConnectionError()] * 5
    served = always_down()
    info = fallback_info(served)
    assert served == {"id": None} and info is not None and isinstance(info.error, RetryError)


def test_open_breaker_is_served_from_fallback_and_exposed(clock: ManualClock) -> None:
    policy = Policy("weather", retry=fast_retry(clock), fallback=DefaultValueFallback({"t": None}))
    protected = policy(lambda city: {"t": 20, "city": city})
    assert protected("Paris") == {"t": 20, "city": "Paris"}
    policy.breaker.force_open()
    assert policy.breaker.state is CircuitState.FORCED_OPEN
    assert fallback_info(protected("Paris")).reason == "circuit_open"  # type: ignore[union-attr]
    policy.breaker.reset()
    policy.force_fallback()
    assert fallback_info(protected("Paris")).reason == "forced"  # type: ignore[union-attr]
    policy.force_fallback(False)
    assert not is_fallback(protected("Paris"))


def test_bugs_and_non_retryable_errors_are_neither_retried_nor_hidden(clock: ManualClock) -> None:
    class NotFound(NonRetryableError):
        pass

    config = {
        "services": {
            "users": {"retry": {"max_attempts": 5}, "fallback": {"strategy": "default", "default": {}}}
        }
    }
    policy = PolicyRegistry.from_config(config, environ={}, clock=clock)["users"]
    calls = []

    def raising(error: Exception) -> Any:
        def call() -> None:
            calls.append(1)
            raise error

        return policy(call)

    with pytest.raises(TypeError):
        raising(TypeError("bug"))()
    with pytest.raises(NotFound):
        raising(NotFound("404"))()
    assert len(calls) == 2 and clock.sleeps == []


def test_async_per_attempt_timeout_is_innermost() -> None:
    delays = [0.5, 0.0]

    async def fetch() -> str:
        await asyncio.sleep(delays.pop(0))
        return "fresh"

    breaker = CircuitBreaker(5, 30, name="slow")
    policy = Policy(
        "slow", breaker=breaker, retry=Retry(max_attempts=2, base_delay=0.0, wrap=True), timeout=0.05
    )
    assert asyncio.run(policy(fetch)()) == "fresh"
    assert breaker.failure_count == 0  # the slow attempt was recorded, then reset by the success
    assert delays == []


def test_async_timeouts_exhaust_into_upstream_timeout() -> None:
    async def hang() -> None:
        await asyncio.sleep(5)

    policy = Policy("hang", retry=Retry(max_attempts=2, base_delay=0.0, wrap=True), timeout=0.02)
    with pytest.raises(UpstreamTimeoutError) as info:
        asyncio.run(policy(hang)())
    assert isinstance(info.value.__cause__, AttemptTimeoutError)


def test_sync_timeout_is_cooperative_and_drops_late_results(clock: ManualClock) -> None:
    seen: list[float | None] = []

    def slow_then_fast() -> str:
        seen.append(current_timeout())
        clock.advance(3.0 if len(seen) == 1 else 0.5)
        return f"answer {len(seen)}"

    policy = Policy("db", retry=fast_retry(clock, max_attempts=2), timeout=2.0, clock=clock)
    assert policy(slow_then_fast)() == "answer 2"  # the first answer came late and was dropped
    assert seen == [2.0, 2.0] and current_timeout() is None


def test_sync_timeout_passed_to_a_real_http_client(clock: ManualClock, upstream: Upstream) -> None:
    upstream.slow_requests, upstream.slow_seconds = 1, 1.5
    policy = Policy("http", retry=Retry(max_attempts=2, base_delay=0.0, wrap=True), timeout=0.5)

    @policy
    def fetch() -> Any:
        return httpx.get(upstream.url, timeout=current_timeout()).json()

    assert fetch() == {"ok": True}
    assert upstream.hits == 2
    assert get_statistics(fetch).errors == {"ReadTimeout": 1}


def test_async_policy_over_real_http_with_retry_after(upstream: Upstream) -> None:
    upstream.script = [(503, {"Retry-After": "0"}), (503, {})]
    registry = PolicyRegistry.from_config(
        {"services": {"weather": {"timeout": 2, "retry": {"max_attempts": 3, "base_delay": 0.01}}}},
        environ={},
    )

    @registry["weather"]
    async def fetch() -> Any:
        async with httpx.AsyncClient() as client:
            response = await client.get(upstream.url, timeout=current_timeout())
            response.raise_for_status()
            return response.json()

    assert asyncio.run(fetch()) == {"ok": True}
    assert upstream.hits == 3
    assert get_statistics(fetch).errors == {"HTTPStatusError": 2}


def test_seed_configmap_builds_policies() -> None:
    registry = PolicyRegistry.from_config(SEED_CONFIG, environ={})
    assert sorted(registry) == ["prediction-service", "user-service", "weather-service"]
    weather = registry["weather-service"]
    assert weather.breaker.failure_threshold == 3 and weather.breaker.recovery_timeout == 60
    assert weather.retry.max_attempts == 1 and weather.timeout is None
    assert registry.breakers["weather-service"] is weather.breaker
    with pytest.raises(KeyError, match="no policy for service 'billing'"):
        registry["billing"]


def test_full_config_defaults_budget_and_fallback(clock: ManualClock) -> None:
    config = {
        "defaults": {"retry": {"max_attempts": 3, "jitter": None}, "timeout": 2.0},
        "services": {
            "weather-service": {
                "url": "http://weather",
                "failure_threshold": 10,
                "recovery_timeout": 60,
                "retry": {
                    "base_delay": 0.5,
                    "budget": {"ratio": 0.0, "capacity": 1, "min_retries_per_second": 0},
                },
                "fallback": {"strategy": "last_known_good", "ttl": 60, "default": {"conditions": "unknown"}},
            }
        },
        "dlq": {"url": None},
    }
    registry = PolicyRegistry.from_config(config, environ={}, ignore_keys={"url"}, clock=clock)
    policy = registry["weather-service"]
    assert policy.retry.max_attempts == 3 and policy.retry.backoff.base_delay == 0.5 and policy.timeout == 2.0
    state = {"up": True}

    @policy
    def weather(city: str) -> dict[str, str]:
        if not state["up"]:
            raise ConnectionError("down")
        return {"city": city, "conditions": "sunny"}

    assert weather("Oslo") == {"city": "Oslo", "conditions": "sunny"}
    state["up"] = False
    cached = weather("Oslo")
    assert cached == {"city": "Oslo", "conditions": "sunny"}
    assert fallback_info(cached).strategy == "LastKnownGoodFallback"  # type: ignore[union-attr]
    assert clock.sleeps == [0.5]  # one retry, then the shared budget (capacity 1) refused
    assert fallback_info(weather("Rome")).error.code == "RETRY_BUDGET_EXHAUSTED"  # type: ignore[union-attr]


def test_functions_of_one_policy_do_not_share_cache_keys(clock: ManualClock) -> None:
    policy = Policy(
        "svc", retry=fast_retry(clock, max_attempts=1), fallback=lambda: LastKnownGoodFallback(clock=clock)
    )
    up = {"on": True}

    def make(label: str) -> Any:
        def get(key: str) -> str:
            if not up["on"]:
                raise ConnectionError()
            return label

        return policy(get)

    a, b = make("a"), make("b")
    assert (a("k"), b("k")) == ("a", "b")
    up["on"] = False
    assert (a("k"), b("k")) == ("a", "b")


def test_environment_overrides(clock: ManualClock) -> None:
    env = {
        "RESILIENCE__WEATHER_SERVICE__TIMEOUT": "1.5",
        "RESILIENCE__WEATHER_SERVICE__RETRY__MAX_ATTEMPTS": "5",
        "RESILIENCE__WEATHER_SERVICE__RECOVERY_TIMEOUT": "10",
        "RESILIENCE__DEFAULTS__FALLBACK__STRATEGY": "none",
        "RESILIENCE_FORCE_FALLBACK": "user-service",
        "UNRELATED": "x",
    }
    registry = PolicyRegistry.from_config(SEED_CONFIG, environ=env)
    weather = registry["weather-service"]
    assert (
        weather.timeout == 1.5 and weather.retry.max_attempts == 5 and weather.breaker.recovery_timeout == 10
    )
    assert SEED_CONFIG["services"]["weather-service"] == {"failure_threshold": 3, "recovery_timeout": 60}
    assert TOGGLES.is_forced("user-service")


A = "config.services.a"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"retry": {"max_attempt": 2}}, f"{A}.retry: unknown retry option 'max_attempt'"),
        ({"retry": {"max_attempts": 0}}, f"{A}.retry: max_attempts must be"),
        ({"retry": {"jitter": "often"}}, f"{A}.retry: jitter must be"),
        ({"retry": {"budget": {"ratio": -1}}}, f"{A}.retry: RetryBudget ratio"),
        ({"retry": {"retry_exceptions": ["nope.Err"]}}, f"{A}.retry.retry_exceptions: cannot import"),
        ({"retry": 3}, f"{A}.retry: expected a mapping"),
        ({"failure_treshold": 2}, f"{A}: unknown breaker option 'failure_treshold'"),
        ({"failure_threshold": 0}, f"{A}: failure_threshold"),
        ({"timeout": "2"}, f"{A}.timeout: seconds per attempt"),
        ({"fallback": {"strategy": "cached"}}, f"{A}.fallback.strategy: must be one of"),
        ({"fallback": {"strategy": "default"}}, f"{A}.fallback: strategy 'default' needs"),
        ({"fallback": {"ttl": -5}}, f"{A}.fallback: ttl must be"),
        ({"url": "http://a"}, f"{A}: unknown breaker option 'url'"),
    ],
)
def test_invalid_service_section_names_service_and_key(section: Any, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=re.escape(message)):
        PolicyRegistry.from_config({"services": {"a": section}}, environ={})


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ({"services": ["a"]}, {}, "config.services: expected a mapping"),
        ({"services": {"a": {}}, "toggles": {"force": []}}, {}, "config.toggles: unknown key(s)"),
        (
            {"services": {"a": {}}},
            {"RESILIENCE__B__TIMEOUT": "1"},
            "RESILIENCE__B__TIMEOUT names no configured",
        ),
        ({"services": {"a": {}}}, {"RESILIENCE__A": "1"}, "must look like RESILIENCE__SERVICE__KEY"),
        ({"services": {"a": {}}}, {"RESILIENCE__A__TIMEOUT": "soon"}, f"{A}.timeout: seconds per attempt"),
    ],
)
def test_invalid_document_or_environment(config: Any, env: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyConfigError, match=re.escape(message)):
        PolicyRegistry.from_config(config, environ=env)


def test_from_file_json_and_yaml(tmp_path: Path) -> None:
    json_file = tmp_path / "config.json"
    json_file.write_text(
        json.dumps({"services": {"weather-service": {"timeout": 2.0, "retry": {"max_attempts": 2}}}})
    )
    assert PolicyRegistry.from_file(json_file, environ={})["weather-service"].retry.max_attempts == 2
    yaml_file = tmp_path / "config.yaml"
    yaml_file.write_text(
        "services:\n  weather-service:\n    failure_threshold: 3\n    retry:\n      max_attempts: nope\n"
    )
    with pytest.raises(PolicyConfigError, match=rf"{yaml_file}.services.weather-service.retry: max_attempts"):
        PolicyRegistry.from_file(yaml_file, environ={})
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(PolicyConfigError, match=r"broken\.json:1:2: invalid JSON"):
        PolicyRegistry.from_file(broken, environ={})


def test_policy_argument_errors() -> None:
    with pytest.raises(ValueError, match="wrap=True"):
        Policy("a", retry=Retry())
    with pytest.raises(ValueError, match="timeout"):
        Policy("a", timeout=0)
    with pytest.raises(ValueError, match="name"):
        Policy("")
    with pytest.raises(ValueError, match="fallback_function"):
        Policy("a", breaker=CircuitBreaker(fallback_function=lambda: None))


def test_composed_calls_are_logged_in_order(clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    policy = Policy("svc", retry=fast_retry(clock, max_attempts=2), fallback=DefaultValueFallback("stale"))

    @policy
    def down() -> str:
        raise ConnectionError("x")

    with caplog.at_level(logging.WARNING):
        assert down() == "stale"
    assert [
        (record.name, record.getMessage().split(":")[1].split("(")[0].strip()) for record in caplog.records
    ] == [
        ("resilience.retry", "attempt 1 failed"),
        ("resilience.retry", "giving up after 2 attempt"),
        ("resilience.fallback", "serving fallback from DefaultValueFallback"),
    ]


def test_wait_for_a_real_breaker_to_half_open(clock: ManualClock) -> None:
    breaker = CircuitBreaker(1, 10, name="probe", clock=clock)
    policy = Policy("probe", breaker=breaker, retry=fast_retry(clock, on_circuit_open="wait", timeout=30))
    outcomes: list[Any] = [ConnectionError("down"), "recovered"]

    @policy
    def call() -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert call() == "recovered"
    assert clock.sleeps == [10.0]  # the failure opened the breaker; the retry waited it out
    assert breaker.state is CircuitState.CLOSED


def test_describe_for_an_admin_endpoint() -> None:
    registry = PolicyRegistry.from_config(
        {"services": {"a": {"timeout": 1, "retry": {"max_attempts": 2}, "fallback": {"default": 0}}}},
        environ={},
    )
    described = registry.describe()["a"]
    assert described["breaker"]["state"] == "CLOSED" and described["timeout"] == 1.0
    assert described["retry"] == {"max_attempts": 2, "timeout": None}
    assert described["fallback"] == "last_known_good" and described["fallback_forced"] is False
    json.dumps(registry.describe())
