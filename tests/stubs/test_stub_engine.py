"""The fault engine's decisions, with an injected clock: schedules, fail-first, scope, seeds."""

from __future__ import annotations

import statistics

import pytest
from pydantic import ValidationError

from stubs._faults import Action, FaultEngine
from stubs.behaviour import MAX_DELAY_MS, Behaviour


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def engine_with(clock: Clock | None = None, **fields: object) -> FaultEngine:
    engine = FaultEngine(clock or Clock())
    engine.set(Behaviour.model_validate(fields))
    return engine


def actions(engine: FaultEngine, n: int, path: str = "/x") -> list[Action]:
    decisions = [engine.decide(path) for _ in range(n)]
    return [d.action for d in decisions if d is not None]


def test_healthy_by_default_passes_everything_without_delay() -> None:
    engine = FaultEngine()
    decision = engine.decide("/users/1")
    assert decision is not None and decision.action is Action.PASS and decision.delay_s == 0


def test_fail_first_n_then_succeed_uses_first_status() -> None:
    engine = engine_with(fail_first=3, error_status=[429, 500])
    decisions = [engine.decide("/x") for _ in range(5)]
    assert [d.action for d in decisions if d] == [Action.ERROR] * 3 + [Action.PASS] * 2
    assert {d.status for d in decisions[:3] if d} == {429}


def test_same_seed_same_decisions_different_seed_differs() -> None:
    runs = []
    for seed in (7, 7, 8):
        engine = engine_with(
            seed=seed,
            error_rate=0.5,
            error_status=[500, 502, 503],
            drop_rate=0.1,
            latency={"kind": "uniform", "low_ms": 0, "high_ms": 100},
        )
        runs.append([(d.action, d.status, d.delay_s) for d in (engine.decide("/x") for _ in range(200)) if d])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_error_rate_is_roughly_the_probability() -> None:
    got = actions(engine_with(seed=1, error_rate=0.3), 2000)
    assert len(got) == 2000
    assert 0.25 < got.count(Action.ERROR) / len(got) < 0.35


def test_route_scope_leaves_other_paths_alone() -> None:
    engine = engine_with(error_rate=1.0, routes=["/weather/*"])
    assert engine.decide("/users/1") is None
    decision = engine.decide("/weather/north")
    assert decision is not None and decision.action is Action.ERROR


def test_schedule_steps_follow_the_clock_then_fall_back_to_top_level() -> None:
    clock = Clock()
    engine = engine_with(
        clock,
        error_rate=0.0,
        schedule=[
            {"duration_s": 1, "fault": {"error_rate": 1}},
            {"duration_s": 2, "fault": {"drop_rate": 1}},
        ],
    )
    assert actions(engine, 1) == [Action.ERROR]
    clock.now += 1.5
    assert actions(engine, 1) == [Action.DROP]
    assert engine.describe()["active_step"] == 1
    clock.now += 2.0  # past the end, no loop: the top-level (healthy) fields apply
    assert actions(engine, 1) == [Action.PASS]
    assert engine.describe()["active_step"] is None


def test_looping_schedule_flaps_and_restarts_fail_first_each_cycle() -> None:
    clock = Clock()
    engine = engine_with(
        clock,
        loop=True,
        schedule=[{"duration_s": 1, "fault": {"fail_first": 1}}, {"duration_s": 1, "fault": {}}],
    )
    seen = []
    for _ in range(3):
        seen += actions(engine, 2)  # step 0: one error then a pass
        clock.now += 1.0
        seen += actions(engine, 1)  # step 1: healthy
        clock.now += 1.0
    assert seen == [Action.ERROR, Action.PASS, Action.PASS] * 3
    assert engine.describe()["cycle"] == 3


def test_latency_distributions_stay_in_range_and_near_their_mean() -> None:
    cases = {
        "fixed": ({"kind": "fixed", "ms": 120}, 120, 120),
        "uniform": ({"kind": "uniform", "low_ms": 50, "high_ms": 150}, 50, 150),
        "normal": ({"kind": "normal", "mean_ms": 100, "stddev_ms": 80}, 0, MAX_DELAY_MS),
        "exponential": ({"kind": "exponential", "mean_ms": 100}, 0, MAX_DELAY_MS),
    }
    for name, (latency, low, high) in cases.items():
        engine = engine_with(seed=3, latency=latency)
        samples = [d.delay_s * 1000 for d in (engine.decide("/x") for _ in range(3000)) if d]
        assert all(low <= s <= high for s in samples), name
        assert statistics.mean(samples) == pytest.approx(100 if name != "fixed" else 120, rel=0.15), name


def test_latency_number_is_shorthand_for_fixed() -> None:
    assert (
        Behaviour.model_validate({"latency": 250}).latency
        == Behaviour.model_validate({"latency": {"kind": "fixed", "ms": 250}}).latency
    )


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"error_status": [200]}, "error_status.0"),
        ({"latency": {"kind": "uniform", "low_ms": 9, "high_ms": 1}}, "low_ms (9.0) must not exceed high_ms"),
        ({"latency": {"kind": "gamma", "ms": 1}}, "latency"),
        ({"loop": True}, "loop is true but schedule is empty"),
        ({"schedule": [{"duration_s": 0}]}, "schedule.0.duration_s"),
        ({"colour": "red"}, "colour"),
        ({"body_fault": "mangled"}, "body_fault"),
    ],
)
def test_invalid_behaviours_name_the_field(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        Behaviour.model_validate(fields)
    from stubs._app import validation_message

    assert needle in validation_message(info.value)
