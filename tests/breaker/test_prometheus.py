"""Prometheus metrics scraped from a real CollectorRegistry; importing resilience stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from resilience import BreakerRegistry, CircuitBreaker, CircuitBreakerError
from resilience._clock import ManualClock
from resilience.instrumentation.breaker import PrometheusBreakerMetrics


def test_metrics_follow_calls_and_transitions() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusBreakerMetrics(registry)
    clock = ManualClock()
    breaker = CircuitBreaker(1, 5, name="weather", clock=clock)
    metrics.attach(breaker)
    breaker.call(lambda: "ok")
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    with pytest.raises(CircuitBreakerError):
        breaker.call(lambda: "ok")

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"breaker": "weather", **labels})

    assert value("resilience_breaker_calls_total", outcome="success") == 1
    assert value("resilience_breaker_calls_total", outcome="failure") == 1
    assert value("resilience_breaker_calls_total", outcome="rejected") == 1
    assert value("resilience_breaker_transitions_total", from_state="CLOSED", to_state="OPEN") == 1
    assert value("resilience_breaker_state", state="OPEN") == 1
    assert value("resilience_breaker_state", state="CLOSED") == 0
    clock.advance(5)
    assert value("resilience_breaker_state", state="HALF_OPEN") == 1  # read at scrape time
    text = generate_latest(registry).decode()
    assert 'resilience_breaker_calls_total{breaker="weather",outcome="success"} 1.0' in text


def test_registry_on_create_instruments_every_breaker() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusBreakerMetrics(registry)
    breakers = BreakerRegistry.from_config({"services": {"a": {}}}, on_create=metrics.attach)
    breakers.breaker("b").call(lambda: 1)
    assert registry.get_sample_value("resilience_breaker_state", {"breaker": "a", "state": "CLOSED"}) == 1
    assert (
        registry.get_sample_value("resilience_breaker_calls_total", {"breaker": "b", "outcome": "success"})
        == 1
    )


def test_importing_resilience_does_not_import_prometheus_or_yaml() -> None:
    code = "import sys, resilience; print('prometheus_client' in sys.modules, 'yaml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
