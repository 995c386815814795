"""Never executed: type-checked with ``mypy --strict tests/typing/api_retry.py`` to pin the public
signatures of retry, fallback and policy (decorated functions keep their parameters and results)."""

from __future__ import annotations

import random
from typing import Any

import httpx

import resilience
from resilience import (
    Backoff,
    CachedDataFallback,
    ChainedFallback,
    DefaultValueFallback,
    FallbackStrategy,
    LastKnownGoodFallback,
    NonRetryableError,
    Policy,
    PolicyRegistry,
    Retry,
    RetryableError,
    RetryBudget,
    Toggles,
    collect_fallbacks,
    current_timeout,
    fallback_info,
    is_fallback,
    parse_retry_after,
    retry,
    retrying,
    with_fallback,
)
from resilience._clock import ManualClock
from resilience.breaker import CircuitBreaker
from resilience.fallback import TOGGLES, FallbackInfo, FallbackStatistics
from resilience.instrumentation import fallback as fallback_metrics
from resilience.instrumentation import retry as retry_metrics
from resilience.retry import GiveUpReason, Jitter, RetryEvent, RetryStatistics, get_statistics

clock = ManualClock()


class TemporaryDatabaseError(RetryableError):
    pass


class BadRequest(NonRetryableError):
    pass


# --- retry -----------------------------------------------------------------------------------------


@retry(
    max_attempts=3,
    retry_exceptions=TemporaryDatabaseError,
    base_delay=1.0,
    max_delay=60.0,
    backoff_factor=2.0,
    jitter=True,
)
def save_data(data: dict[str, str]) -> bool:
    return True


ok: bool = save_data({"key": "value"})


@retry
def bare(x: int) -> int:
    return x


n: int = bare(1)


def on_event(event: RetryEvent) -> None:
    reason: GiveUpReason | None = event.gave_up
    delay: float | None = event.delay
    print(reason, delay, event.attempt, event.error, event.name)


@retry(
    None,
    [ConnectionError, TimeoutError],
    0.1,
    5.0,
    3.0,
    "decorrelated",
    timeout=30.0,
    retry_on_result=lambda response: response.status_code == 503,
    budget=RetryBudget(0.2, 1.0, 10.0, clock=clock),
    on_circuit_open="wait",
    wrap=True,
    clock=clock,
    name="weather",
    listeners=[on_event],
    rng=random.Random(1),
)
async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url, timeout=current_timeout())


async def use_fetch() -> int:
    response: httpx.Response = await fetch("http://127.0.0.1:1/")
    return response.status_code


policy_object: Retry = Retry(
    max_attempts=2, retry_exceptions=lambda error: isinstance(error, OSError), jitter=None
)
stats: RetryStatistics = get_statistics(save_data)
attempts: int = stats.attempts + stats.calls + stats.retries
summary: dict[str, Any] = policy_object.statistics.as_dict()
retryable: bool = policy_object.is_retryable(OSError())

for attempt in retrying(max_attempts=5, retry_exceptions=ConnectionError, jitter=Jitter.FULL, clock=clock):
    with attempt:
        number: int = attempt.number


async def block() -> None:
    async for attempt in retrying(timeout=5.0, wrap=True):
        with attempt:
            pass
    for attempt in policy_object.attempts():
        with attempt:
            pass


schedule = Backoff(base_delay=1.0, max_delay=60.0, backoff_factor=2.0, jitter="full", rng=None)
wait: float = schedule.delay(1) + schedule.delay(2, previous_delay=1.5) + schedule.ceiling(3)
hint: float | None = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=0.0)
hint = parse_retry_after(b"120") or parse_retry_after(3.5)

budget = RetryBudget(ratio=0.1, min_retries_per_second=0.5, capacity=5.0)
budget.deposit()
granted: bool = budget.try_withdraw()
balance: float = budget.balance

retry_metrics.register_prometheus()
with resilience.set_testing(True, attempts=2):
    pass

# --- fallback --------------------------------------------------------------------------------------


def get_cached_weather() -> dict[str, Any]:
    return {"temperature": 20}


weather_fallback = ChainedFallback(
    [
        LastKnownGoodFallback(ttl=60.0, max_size=100, key=lambda city, **_: city, clock=clock),
        CachedDataFallback(get_cached_weather),
        DefaultValueFallback({"temperature": None}),
    ]
)


def heard(info: FallbackInfo) -> None:
    print(info.name, info.reason, info.strategy, info.error)


@with_fallback(
    weather_fallback,
    on=(ConnectionError, TimeoutError),
    ignore=(),
    name="weather-service",
    feature="weather",
    toggles=Toggles(),
    listeners=[heard],
)
def get_weather(location: str) -> dict[str, Any]:
    return {"temperature": 21, "location": location}


@with_fallback(DefaultValueFallback([]))
async def get_points() -> list[float]:
    return [1.0]


weather: dict[str, Any] = get_weather("Oslo")
degraded: bool = is_fallback(weather)
details: FallbackInfo | None = fallback_info(weather)
with collect_fallbacks() as served:
    first: list[FallbackInfo] = served


class Custom(FallbackStrategy):
    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return None


TOGGLES.force_fallback("weather-service")
TOGGLES.disable("weather")
TOGGLES.enable("weather")
TOGGLES.configure({"force_fallback": [], "disabled_features": []})
TOGGLES.configure_from_env({"RESILIENCE_FORCE_FALLBACK": "a"})
enabled: bool = TOGGLES.is_enabled("weather") and TOGGLES.is_forced("weather-service")
fallback_stats: FallbackStatistics = get_weather.fallback_statistics  # type: ignore[attr-defined]
fallback_metrics.register_prometheus()

# --- policy ----------------------------------------------------------------------------------------

registry = PolicyRegistry.from_config(
    {"services": {"weather-service": {"failure_threshold": 3, "recovery_timeout": 60, "timeout": 2.0}}},
    where="configmap",
    environ={},
    ignore_keys={"url"},
    clock=clock,
    toggles=TOGGLES,
)
registry = PolicyRegistry.from_file("config.yaml", environ=None)
weather_policy: Policy = registry["weather-service"]
breaker: CircuitBreaker = weather_policy.breaker
names: list[str] = list(registry)

manual = Policy(
    "users",
    breaker=CircuitBreaker(5, 30, name="users"),
    retry=Retry(max_attempts=3, wrap=True),
    timeout=1.0,
    fallback=lambda: LastKnownGoodFallback(),
    fallback_on=Exception,
    fallback_ignore=(TypeError,),
    feature=None,
    toggles=TOGGLES,
    clock=clock,
)
manual.force_fallback(False)


@manual
async def get_user(user_id: str) -> dict[str, str]:
    return {"id": user_id}


@weather_policy
def get_forecast(city: str, days: int = 3) -> list[float]:
    return [0.0] * days


async def use_policies() -> None:
    user: dict[str, str] = await get_user("u1")
    forecast: list[float] = get_forecast("Oslo", days=2)
    left: float | None = current_timeout()
    print(user, forecast, left)
