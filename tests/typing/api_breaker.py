"""Type-checked, never executed: every public breaker signature as a user writes it.

Check with ``mypy --strict tests/typing/api_breaker.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from resilience import (
    BreakerConfig,
    BreakerRegistry,
    CallEvent,
    CallOutcome,
    CircuitBreaker,
    CircuitBreakerError,
    CircuitState,
    SlidingWindowType,
    StateTransition,
    load_config_file,
)
from resilience._clock import ManualClock
from resilience.breaker import AUTOMATIC_TRANSITIONS, MANUAL_TARGETS, Snapshot, Verdict, evaluate
from resilience.instrumentation.breaker import PrometheusBreakerMetrics


@dataclass
class Response:
    status: int


def fallback(user_id: str) -> dict[str, str]:
    return {"user_id": user_id}


seed = CircuitBreaker(failure_threshold=5, recovery_timeout=30, fallback_function=fallback)
positional = CircuitBreaker(3, 60.0)
config = BreakerConfig(
    sliding_window_type=SlidingWindowType.TIME_BASED,
    sliding_window_size=60,
    minimum_number_of_calls=10,
    failure_rate_threshold=50.0,
    slow_call_rate_threshold=80.0,
    slow_call_duration_threshold=2.0,
    wait_duration_in_open_state=10.0,
    wait_duration_multiplier=2.0,
    max_wait_duration_in_open_state=120.0,
    permitted_number_of_calls_in_half_open_state=3,
    max_wait_duration_in_half_open_state=30.0,
    record_exceptions=(ConnectionError, TimeoutError),
    ignore_exceptions=(ValueError,),
    record_result=lambda response: isinstance(response, Response) and response.status == 503,
)
stricter: BreakerConfig = replace(config, failure_rate_threshold=25.0)
from_data: BreakerConfig = BreakerConfig.from_mapping(
    {"failure_threshold": 3, "recovery_timeout": 60, "retry": {}},
    where="services.weather-service",
    ignore_keys={"retry", "timeout", "fallback"},
    base=config,
)


def on_transition(event: StateTransition) -> None:
    before: CircuitState = event.from_state
    after: CircuitState = event.to_state
    print(event.breaker, before.value, after.value, event.reason, event.manual, event.at, event.retry_after)


def on_call(event: CallEvent) -> None:
    outcome: CallOutcome = event.outcome
    print(event.breaker, outcome.value, event.duration)


breaker = CircuitBreaker(name="weather", config=config, clock=ManualClock(), listeners=[on_transition])
breaker.add_listener(on_transition)
breaker.add_call_hook(on_call)


@breaker
def get_weather(city: str) -> Response:
    return Response(200)


@breaker
async def aget_weather(city: str) -> Response:
    return Response(200)


async def use() -> None:
    sync_result: Response = get_weather("Oslo")
    async_result: Response = await aget_weather("Oslo")
    called: Response = breaker.call(get_weather, "Oslo")
    awaited: Response = await breaker.acall(aget_weather, "Oslo")
    print(sync_result, async_result, called, awaited)
    try:
        get_weather("Oslo")
    except CircuitBreakerError as error:
        seconds: float = error.retry_after
        print(error.name, error.state, seconds)


name: str = breaker.name
state: CircuitState = breaker.state
retry_after: float = breaker.retry_after
failures: int = breaker.failure_count
last: float | None = breaker.last_failure_time
totals: Snapshot = breaker.snapshot()
picture: dict[str, object] = breaker.get_state()
breaker.force_open()
breaker.force_closed()
breaker.disable()
breaker.metrics_only()
breaker.reset()
verdict: Verdict = evaluate(totals, config)
trips: bool = verdict.trips
allowed: bool = (
    CircuitState.OPEN in AUTOMATIC_TRANSITIONS[CircuitState.CLOSED] and CircuitState.CLOSED in MANUAL_TARGETS
)

registry = BreakerRegistry.from_file("breakers.yaml", ignore_keys={"retry"}, clock=ManualClock())
registry2 = BreakerRegistry.from_config(
    {"services": {}}, where="inline", on_create=PrometheusBreakerMetrics().attach
)
registry3 = BreakerRegistry({"a": config}, default=stricter, listeners=[on_transition])
named: CircuitBreaker = registry.breaker("weather-service", fallback_function=fallback)
every: list[CircuitBreaker] = registry.all()
for each in registry:
    print(each.name)
print(len(registry), "a" in registry3, registry3["a"], registry2.config_for("x"))
raw: dict[str, object] = load_config_file("config.json")
