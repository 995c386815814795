"""Fallback strategies, scoping, degraded marking, the last-known-good cache and run-time toggles."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from resilience._clock import ManualClock
from resilience.errors import CircuitBreakerError
from resilience.fallback import (
    TOGGLES,
    CachedDataFallback,
    ChainedFallback,
    DefaultValueFallback,
    DegradedDict,
    FallbackChainError,
    FallbackInfo,
    FallbackStrategy,
    LastKnownGoodFallback,
    NoFallbackValueError,
    Toggles,
    collect_fallbacks,
    fallback_info,
    is_fallback,
    with_fallback,
)
from resilience.instrumentation.fallback import register_prometheus


def get_cached_weather() -> dict[str, Any]:
    return {"temperature": 20, "conditions": "sunny", "is_cached": True}


def test_seed_example_unchanged() -> None:
    cached_weather_fallback = CachedDataFallback(get_cached_weather)
    default_weather_fallback = DefaultValueFallback(
        {"temperature": 0, "conditions": "unknown", "is_default": True}
    )
    weather_fallback = ChainedFallback([cached_weather_fallback, default_weather_fallback])

    @with_fallback(weather_fallback)
    def get_weather(location: str) -> dict[str, Any]:
        raise Exception("Failed to get weather: 503")

    weather = get_weather("New York")
    assert weather == {"temperature": 20, "conditions": "sunny", "is_cached": True}
    assert isinstance(weather, dict) and json.loads(json.dumps(weather)) == weather
    assert is_fallback(weather)
    info = fallback_info(weather)
    assert info is not None and info.strategy == "CachedDataFallback" and info.reason == "error"


def test_live_results_are_not_marked() -> None:
    @with_fallback(DefaultValueFallback({}))
    def live() -> dict[str, int]:
        return {"a": 1}

    result = live()
    assert type(result) is dict and not is_fallback(result)


def test_programming_errors_are_not_swallowed() -> None:
    @with_fallback(DefaultValueFallback("default"))
    def buggy() -> str:
        return None.upper()  # type: ignore[union-attr]

    with pytest.raises(AttributeError):
        buggy()
    assert buggy.fallback_statistics.activations == {}  # type: ignore[attr-defined]


def test_fallback_scope_is_configurable() -> None:
    def raising(error: Exception) -> Any:
        def call() -> None:
            raise error

        return call

    only_connection = with_fallback(DefaultValueFallback(0), on=ConnectionError)
    assert only_connection(raising(ConnectionError()))() == 0
    with pytest.raises(ValueError):
        only_connection(raising(ValueError()))()
    everything = with_fallback(DefaultValueFallback(0), ignore=())
    assert everything(raising(TypeError()))() == 0
    asked = with_fallback(DefaultValueFallback(0), on=[TypeError, OSError])
    assert asked(raising(TypeError()))() == 0  # named in ``on``: caught although a programming error
    with pytest.raises(TypeError, match="on must be"):
        with_fallback(DefaultValueFallback(0), on="OSError")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="FallbackStrategy"):
        with_fallback(lambda: 0)  # type: ignore[arg-type]


def test_chained_failure_reports_every_error() -> None:
    class Broken(FallbackStrategy):
        def __init__(self, message: str) -> None:
            self.message = message

        def execute(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(self.message)

    @with_fallback(ChainedFallback([Broken("first"), Broken("second")]))
    def down() -> None:
        raise ConnectionError("live")

    with pytest.raises(FallbackChainError) as info:
        down()
    assert isinstance(info.value, ExceptionGroup)
    assert [str(e) for e in info.value.exceptions] == ["first", "second"]
    assert isinstance(info.value.__cause__, ConnectionError)
    assert down.fallback_statistics.failures == 1  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="at least one"):
        ChainedFallback([])


def test_last_known_good_serves_per_key_within_ttl(clock: ManualClock) -> None:
    cache = LastKnownGoodFallback(ttl=60, max_size=2, clock=clock)
    live = {"on": True}

    @with_fallback(ChainedFallback([cache, DefaultValueFallback({"city": None})]), name="weather")
    def weather(city: str, *, units: str = "C") -> dict[str, Any]:
        if not live["on"]:
            raise ConnectionError("down")
        return {"city": city, "units": units, "at": clock.monotonic()}

    paris = weather("Paris")
    weather("Paris", units="F")
    live["on"] = False
    served = weather("Paris")
    assert served == paris and is_fallback(served)
    assert fallback_info(served) == FallbackInfo(
        "weather", "error", "LastKnownGoodFallback", served.fallback.error
    )
    assert cache.age("Paris") == 0.0
    clock.advance(61)
    expired = weather("Paris")
    assert expired == {"city": None} and fallback_info(expired).strategy == "DefaultValueFallback"  # type: ignore[union-attr]
    live["on"] = True
    weather("Rome")
    weather("Oslo")  # max_size 2: the oldest key is evicted
    assert len(cache) == 2
    with pytest.raises(NoFallbackValueError):
        cache.execute("Paris", units="F")


def test_last_known_good_with_unhashable_arguments_and_custom_key(clock: ManualClock) -> None:
    cache = LastKnownGoodFallback(clock=clock)
    cache.remember("v", ({"a": [1]},), {})
    assert cache.execute({"a": [1]}) == "v"
    by_user = LastKnownGoodFallback(key=lambda user, **_: user, clock=clock)
    by_user.remember("profile", ("u1",), {"verbose": True})
    assert by_user.execute("u1", verbose=False) == "profile"


def test_marking_keeps_the_cached_original_clean() -> None:
    @dataclass
    class User:
        name: str

    original = User("ada")
    marked = with_fallback(DefaultValueFallback(original))(_down)()
    assert marked == original and is_fallback(marked) and not is_fallback(original)

    class Forecast(BaseModel):
        temperature: float

    model = with_fallback(DefaultValueFallback(Forecast(temperature=1.5)))(_down)()
    assert is_fallback(model) and model.model_dump() == {"temperature": 1.5}
    number = with_fallback(DefaultValueFallback(0))(_down)()
    assert number == 0 and not is_fallback(number)  # scalars cannot carry a mark...
    with collect_fallbacks() as served:  # ...but every activation is recorded in the context
        with_fallback(DefaultValueFallback(0), name="counter")(_down)()
    assert [(info.name, info.reason) for info in served] == [("counter", "error")]


def _down() -> Any:
    raise ConnectionError("down")


def test_circuit_open_is_its_own_reason() -> None:
    @with_fallback(DefaultValueFallback({}), name="users")
    def refused() -> dict[str, Any]:
        raise CircuitBreakerError(name="users", retry_after=3.0)

    assert fallback_info(refused()).reason == "circuit_open"  # type: ignore[union-attr]


def test_async_functions_and_async_strategies(clock: ManualClock) -> None:
    async def provider() -> dict[str, str]:
        await asyncio.sleep(0)
        return {"from": "async cache"}

    cache = LastKnownGoodFallback(clock=clock)
    state = {"up": True}

    @with_fallback(ChainedFallback([cache, CachedDataFallback(provider)]), name="async-svc")
    async def fetch(key: str) -> dict[str, str]:
        await asyncio.sleep(0)
        if not state["up"]:
            raise ConnectionError("down")
        return {"key": key}

    async def main() -> list[Any]:
        first = await fetch("a")
        state["up"] = False
        with collect_fallbacks() as served:
            results = await asyncio.gather(fetch("a"), fetch("b"))
        return [first, *results, served]

    first, cached, provided, served = asyncio.run(main())
    assert not is_fallback(first) and cached == {"key": "a"} and is_fallback(cached)
    assert provided == {"from": "async cache"} and isinstance(provided, DegradedDict)
    assert sorted(info.strategy for info in served) == ["CachedDataFallback", "LastKnownGoodFallback"]


def test_forced_fallback_and_disabled_feature_at_run_time() -> None:
    calls = []

    @with_fallback(DefaultValueFallback({"recommended": []}), name="recs", feature="recommendations")
    def recommendations() -> dict[str, list[str]]:
        calls.append(1)
        return {"recommended": ["a"]}

    assert not is_fallback(recommendations())
    TOGGLES.force_fallback("recs")
    assert fallback_info(recommendations()).reason == "forced"  # type: ignore[union-attr]
    TOGGLES.force_fallback("recs", False)
    TOGGLES.disable("recommendations")
    assert not TOGGLES.is_enabled("recommendations")
    assert fallback_info(recommendations()).reason == "feature_disabled"  # type: ignore[union-attr]
    TOGGLES.enable("recommendations")
    assert not is_fallback(recommendations())
    assert len(calls) == 2
    stats = recommendations.fallback_statistics  # type: ignore[attr-defined]
    assert stats.activations == {"forced": 1, "feature_disabled": 1} and stats.calls == 4


def test_toggles_from_configuration_and_environment() -> None:
    toggles = Toggles()
    toggles.configure({"force_fallback": ["weather-service"], "disabled_features": ["search"]})
    assert toggles.is_forced("weather-service") and not toggles.is_enabled("search")
    assert toggles.snapshot() == {"force_fallback": ["weather-service"], "disabled_features": ["search"]}
    toggles.configure_from_env({"RESILIENCE_FORCE_FALLBACK": " a, b ,", "RESILIENCE_DISABLED_FEATURES": ""})
    assert toggles.snapshot() == {"force_fallback": ["a", "b"], "disabled_features": []}
    with pytest.raises(ValueError, match=r"toggles: unknown key\(s\) \['force'\]"):
        toggles.configure({"force": ["a"]})
    with pytest.raises(ValueError, match=r"toggles.disabled_features: expected a list"):
        toggles.configure({"disabled_features": "search"})

    @with_fallback(DefaultValueFallback("cached"), name="a", toggles=toggles)
    def a() -> str:
        return "live"

    assert a() == "cached"


def test_each_activation_is_logged_counted_and_heard(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[FallbackInfo] = []
    registry = CollectorRegistry()
    register_prometheus(registry)
    protected = with_fallback(DefaultValueFallback({}), name="logged", listeners=[heard.append])(_down)
    with caplog.at_level(logging.WARNING, logger="resilience.fallback"):
        protected()
        protected()
    assert [r.getMessage() for r in caplog.records] == [
        "logged: serving fallback from DefaultValueFallback (error: ConnectionError('down'))"
    ] * 2
    assert len(heard) == 2 and heard[0].error is not None
    assert (
        registry.get_sample_value(
            "resilience_fallback_activations_total", {"name": "logged", "reason": "error"}
        )
        == 2
    )
    assert registry.get_sample_value("resilience_fallback_calls_total", {"name": "logged"}) == 2


@pytest.mark.parametrize("kwargs", [{"ttl": 0}, {"max_size": 0}, {"ttl": float("nan")}])
def test_invalid_cache_settings_are_named(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        LastKnownGoodFallback(**kwargs)  # type: ignore[arg-type]
