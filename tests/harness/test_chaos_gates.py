"""Gates as pure functions of measurements: no services, no clock."""

from __future__ import annotations

import math

import pytest

from harness.gates import (
    ABORT_MIN_SAMPLES,
    Measurements,
    PhaseWindow,
    SeriesPoint,
    clearly_breached,
    evaluate,
    recovery_time,
)
from harness.measure import Sample
from harness.scenario import (
    BreakerGate,
    ErrorRateGate,
    FallbackRateGate,
    LatencyGate,
    LatencyRatioGate,
    RecoveryGate,
    ValueGate,
)

PHASES = (PhaseWindow("baseline", 0, 10), PhaseWindow("fault", 10, 20), PhaseWindow("recovery", 20, 30))


def samples(
    start: float, end: float, latency: float, *, ok: bool = True, fallback: bool = False, route: str = "r"
):
    """One sample every 0.1 s in [start, end)."""
    count = round((end - start) * 10)
    return [Sample(start + i / 10, route, latency, ok, 200 if ok else 503, fallback) for i in range(count)]


def measured(*groups: list[Sample], series: dict | None = None) -> Measurements:
    return Measurements(tuple(s for g in groups for s in g), series or {}, PHASES)


def test_latency_gate_reads_the_percentile_of_its_phase_and_route() -> None:
    m = measured(samples(0, 10, 10), samples(10, 20, 300), samples(10, 20, 5, route="other"))
    ok = evaluate("g", LatencyGate(kind="latency", route="r", phase="fault", max_ms=400), m)
    bad = evaluate("g", LatencyGate(kind="latency", route="r", phase="fault", max_ms=250), m)
    assert ok.passed and ok.observed == pytest.approx(300)
    assert not bad.passed and "p95 = 300.0 ms over 100 samples" in bad.detail
    everything = evaluate("g", LatencyGate(kind="latency", phase="fault", percentile=50, max_ms=1000), m)
    assert everything.observed == pytest.approx(152.5)  # median of 100 x 5 ms and 100 x 300 ms


def test_a_gate_without_samples_fails_rather_than_passing() -> None:
    verdict = evaluate("g", LatencyGate(kind="latency", route="nothing", phase="fault", max_ms=1), measured())
    assert not verdict.passed and verdict.observed is None and "no samples" in verdict.detail


def test_ratio_gate_compares_with_the_baseline_phase() -> None:
    m = measured(samples(0, 10, 20), samples(10, 20, 70))
    gate = LatencyRatioGate(kind="latency_ratio", phase="fault", max_factor=3)
    verdict = evaluate("g", gate, m)
    assert not verdict.passed and verdict.observed == pytest.approx(3.5)
    assert evaluate("g", gate.model_copy(update={"max_factor": 4}), m).passed


def test_error_and_fallback_rates() -> None:
    m = measured(samples(10, 15, 5, ok=False), samples(15, 20, 5, fallback=True))
    errors = evaluate("g", ErrorRateGate(kind="error_rate", phase="fault", max=0.4), m)
    assert not errors.passed and errors.observed == pytest.approx(0.5)
    fallbacks = FallbackRateGate(kind="fallback_rate", phase="fault", min=0.4, max=0.6)
    assert evaluate("g", fallbacks, m).passed
    assert not evaluate("g", fallbacks.model_copy(update={"min": 0.9}), m).passed


def test_breaker_gate_needs_the_state_during_its_phase_and_counts_forced_open() -> None:
    series = {
        "b": (SeriesPoint(5, "open"), SeriesPoint(12, "closed"), SeriesPoint(14, None, ok=False)),
        "f": (SeriesPoint(12, "forced_open"),),
    }
    m = measured(series=series)
    assert not evaluate(
        "g", BreakerGate(kind="breaker", probe="b", phase="fault"), m
    ).passed  # open only in baseline
    assert evaluate("g", BreakerGate(kind="breaker", probe="b", phase="baseline"), m).passed
    assert evaluate("g", BreakerGate(kind="breaker", probe="f", phase="fault"), m).passed


def test_value_gate_aggregates() -> None:
    series = {"dlq": tuple(SeriesPoint(10 + i, float(v)) for i, v in enumerate([0, 3, 7, 2]))}
    m = measured(series=series)
    assert evaluate("g", ValueGate(kind="value", probe="dlq", phase="fault", max=7), m).passed
    last = ValueGate(kind="value", probe="dlq", phase="fault", aggregate="last", min=3)
    verdict = evaluate("g", last, m)
    assert not verdict.passed and verdict.observed == 2
    mean = ValueGate(kind="value", probe="dlq", phase="fault", aggregate="mean", min=3, max=3)
    assert evaluate("g", mean, m).passed


def test_recovery_time_is_the_start_of_the_first_healthy_window() -> None:
    fault_end = 20.0
    after = [*samples(20, 22, 500), *samples(22, 30, 10)]
    # the first 1 s window whose median is fast starts 0.4 s before the last slow sample
    assert recovery_time(after, fault_end, limit_ms=50) == pytest.approx(1.6)
    assert recovery_time(after, fault_end, limit_ms=50, window_s=0.25) == pytest.approx(1.9)
    assert recovery_time(samples(20, 30, 10), fault_end, limit_ms=50) == 0.0
    assert recovery_time(samples(20, 30, 500), fault_end, 50) is None
    assert recovery_time([], fault_end, 50) is None


def test_one_slow_sample_is_not_unrecovered_but_one_error_is() -> None:
    spike = [*samples(20, 25, 10), Sample(25.05, "r", 900.0, True), *samples(25.1, 26, 10)]
    assert recovery_time(spike, 20.0, limit_ms=50) == 0.0
    errors = [Sample(t / 10, "r", 10.0, ok=t % 5 != 0) for t in range(200, 260)]  # an error every 0.5 s
    assert recovery_time(errors, 20.0, limit_ms=50) is None


def test_recovery_gate_uses_baseline_p95_with_tolerance() -> None:
    m = measured(
        samples(0, 10, 20), samples(10, 20, 900), samples(20, 23, 200, fallback=True), samples(23, 30, 25)
    )
    gate = RecoveryGate(kind="recovery", after="fault", within_s=5)
    verdict = evaluate("g", gate, m)
    assert verdict.passed and verdict.observed == pytest.approx(3.0)
    assert not evaluate("g", gate.model_copy(update={"within_s": 2}), m).passed


def test_a_phase_that_never_ran_fails_the_gate_with_a_reason() -> None:
    m = Measurements(tuple(samples(0, 10, 5)), {}, PHASES[:1])
    verdict = evaluate("g", ErrorRateGate(kind="error_rate", phase="fault", max=0), m)
    assert not verdict.passed and "did not run" in verdict.detail


def test_abort_only_when_clearly_breached() -> None:
    gate = ErrorRateGate(kind="error_rate", phase="fault", max=0.1, abort=True)
    few = measured(samples(10, 10 + (ABORT_MIN_SAMPLES - 1) / 10, 5, ok=False))
    many = measured(samples(10, 10 + ABORT_MIN_SAMPLES / 10, 5, ok=False))
    assert clearly_breached(gate, few) is None
    assert clearly_breached(gate, many) is not None
    assert clearly_breached(gate.model_copy(update={"abort": False}), many) is None
    depth = ValueGate(kind="value", probe="dlq", phase="fault", max=5, abort=True)
    one_reading = measured(series={"dlq": (SeriesPoint(11, 9.0),)})
    assert clearly_breached(depth, one_reading) is not None  # a maximum only grows
    fallback_min = FallbackRateGate(kind="fallback_rate", phase="fault", min=0.5, abort=True)
    assert clearly_breached(fallback_min, many) is None  # too few fallbacks may still change


def test_verdict_round_trips_and_nan_becomes_null() -> None:
    verdict = evaluate("g", LatencyGate(kind="latency", phase="fault", max_ms=1), measured())
    data = verdict.to_dict()
    assert data["observed"] is None and data["passed"] is False
    assert type(verdict).from_dict(data) == verdict
    assert not math.isnan(data.get("observed") or 0.0)
