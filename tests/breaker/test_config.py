"""BreakerConfig validation and from_mapping: every error names the field (and where it came from)."""

from __future__ import annotations

import dataclasses

import pytest

from resilience import BreakerConfig, SlidingWindowType


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"failure_threshold": True}, "failure_threshold"),
        ({"sliding_window_size": 0}, "sliding_window_size"),
        ({"sliding_window_type": "COUNT_BASED"}, "sliding_window_type"),
        ({"minimum_number_of_calls": 1.5}, "minimum_number_of_calls"),
        ({"failure_rate_threshold": 0}, "failure_rate_threshold"),
        ({"failure_rate_threshold": 101}, "failure_rate_threshold"),
        ({"slow_call_duration_threshold": 0}, "slow_call_duration_threshold"),
        ({"wait_duration_in_open_state": -1}, "wait_duration_in_open_state"),
        ({"wait_duration_in_open_state": float("nan")}, "wait_duration_in_open_state"),
        ({"wait_duration_multiplier": 0.5}, "wait_duration_multiplier"),
        ({"permitted_number_of_calls_in_half_open_state": 0}, "permitted_number_of_calls_in_half_open_state"),
        ({"max_wait_duration_in_half_open_state": 0}, "max_wait_duration_in_half_open_state"),
        ({"record_exceptions": [ValueError]}, "record_exceptions"),
        ({"ignore_exceptions": (int,)}, "ignore_exceptions"),
        ({"record_result": 3}, "record_result"),
        ({"wait_duration_multiplier": 2}, "max_wait_duration_in_open_state"),
        (
            {"wait_duration_in_open_state": 10, "max_wait_duration_in_open_state": 5},
            "max_wait_duration_in_open_state",
        ),
        ({"slow_call_rate_threshold": 50}, "slow_call_duration_threshold"),
    ],
)
def test_invalid_values_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


def test_defaults_and_count_window_caps_minimum_calls() -> None:
    config = BreakerConfig()
    assert (config.failure_threshold, config.wait_duration_in_open_state) == (5, 30.0)
    assert config.sliding_window_type is SlidingWindowType.CONSECUTIVE
    small = BreakerConfig(sliding_window_type=SlidingWindowType.COUNT_BASED, sliding_window_size=10)
    assert small.minimum_calls == 10
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.failure_threshold = 3  # type: ignore[misc]


def test_from_mapping_accepts_seed_and_new_keys() -> None:
    config = BreakerConfig.from_mapping(
        {
            "failure_threshold": 3,
            "recovery_timeout": 60,
            "sliding_window_type": "count_based",
            "record_exceptions": ["ConnectionError", "json.JSONDecodeError"],
            "retry": {"attempts": 3},
        },
        where="services.weather-service",
        ignore_keys={"retry", "timeout", "fallback"},
    )
    assert config.failure_threshold == 3 and config.wait_duration_in_open_state == 60
    assert config.sliding_window_type is SlidingWindowType.COUNT_BASED
    assert (
        config.record_exceptions[0] is ConnectionError
        and config.record_exceptions[1].__name__ == "JSONDecodeError"
    )


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"failure_treshold": 3}, "services.weather-service: unknown breaker option 'failure_treshold'"),
        ({"failure_threshold": "3"}, "services.weather-service: failure_threshold must be an integer"),
        ({"recovery_timeout": 1, "wait_duration_in_open_state": 2}, "same option"),
        ({"sliding_window_type": "SLIDING"}, "services.weather-service.sliding_window_type: expected one of"),
        ({"record_exceptions": ["no.such.Error"]}, "cannot import exception class 'no.such.Error'"),
        ({"record_exceptions": ["json.dumps"]}, "'json.dumps' is not an exception class"),
        ({"record_result": "x"}, "record_result"),
        ({"retry": {}}, "unknown breaker option 'retry'"),
    ],
)
def test_from_mapping_errors_name_where_and_key(mapping: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        BreakerConfig.from_mapping(mapping, where="services.weather-service")
    assert message in str(info.value)


def test_from_mapping_inherits_from_base() -> None:
    base = BreakerConfig(failure_threshold=7, wait_duration_in_open_state=9)
    config = BreakerConfig.from_mapping({"recovery_timeout": 1}, where="x", base=base)
    assert (config.failure_threshold, config.wait_duration_in_open_state) == (7, 1)
