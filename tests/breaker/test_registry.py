"""BreakerRegistry and load_config_file: JSON and YAML, defaults, get-or-create, located errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from resilience import BreakerRegistry, CircuitBreaker, SlidingWindowType, load_config_file
from resilience._clock import ManualClock

YAML = """
defaults:
  sliding_window_type: COUNT_BASED
  sliding_window_size: 20
services:
  weather-service:
    failure_threshold: 3
    recovery_timeout: 60
    minimum_number_of_calls: 5
    retry: {attempts: 3}
  user-service: {}
"""


def test_from_yaml_file_with_defaults_and_ignored_keys(tmp_path: Path) -> None:
    path = tmp_path / "breakers.yaml"
    path.write_text(YAML)
    created: list[CircuitBreaker] = []
    registry = BreakerRegistry.from_file(
        path, ignore_keys={"retry"}, clock=ManualClock(), on_create=created.append
    )
    weather = registry["weather-service"]
    assert weather.config.sliding_window_type is SlidingWindowType.COUNT_BASED
    assert (weather.config.sliding_window_size, weather.config.minimum_number_of_calls) == (20, 5)
    assert weather.recovery_timeout == 60
    assert registry.breaker("weather-service") is weather
    other = registry.breaker("new-service")
    assert other.config == registry.config_for("unknown") and other.config.sliding_window_size == 20
    assert [b.name for b in created] == ["weather-service", "user-service", "new-service"]
    assert len(registry) == 3 and "new-service" in registry and "nope" not in registry
    assert registry.all() == list(registry)
    with pytest.raises(KeyError):
        registry["nope"]


def test_from_json_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"services": {"weather-service": {"failure_threshold": 3, "recovery_timeout": 60}}}')
    assert BreakerRegistry.from_file(path).breaker("weather-service").failure_threshold == 3


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", '{"services": {', "bad.json:1:15: invalid JSON"),
        ("bad.yaml", "services:\n  a: [1, 2\n", "bad.yaml:3:1: invalid YAML"),
        ("list.yaml", "- 1\n", "the top level must be a mapping, got list"),
        ("conf.toml", "x = 1", "unsupported config file type '.toml'"),
        (
            "typo.json",
            '{"services": {"weather-service": {"failure_treshold": 3}}}',
            "typo.json.services.weather-service: unknown breaker option 'failure_treshold'",
        ),
        (
            "value.yaml",
            "services:\n  weather-service:\n    recovery_timeout: -5\n",
            "value.yaml.services.weather-service: wait_duration_in_open_state (recovery_timeout)",
        ),
        ("top.json", '{"service": {}}', "unknown top-level key 'service'"),
        ("svc.json", '{"services": [1]}', "services: expected a mapping"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        BreakerRegistry.from_file(path)
    assert message in str(info.value)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_config_file(tmp_path / "missing.json")


def test_get_or_create_is_thread_safe() -> None:
    registry = BreakerRegistry()
    barrier = threading.Barrier(8)
    seen: list[CircuitBreaker] = []

    def worker() -> None:
        barrier.wait()
        seen.append(registry.breaker("shared"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len({id(b) for b in seen}) == 1 and len(registry) == 1
