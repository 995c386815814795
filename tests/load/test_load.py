"""Real Locust runs (child processes, loopback only, bounded) against the weather stub."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.load.runner import LoadRun
from harness.load.spec import LoadSpec
from harness.measure import summarize, within
from stubs.platform import Platform

LOCUSTFILE = Path(__file__).with_name("weather_locustfile.py")
INJECTED_MS = 100.0
TOLERANCE_MS = 30.0
"""Stated tolerance of measured degradation against injected latency (loaded 2-core CI box)."""


@pytest.fixture(scope="module")
def weather():
    with Platform(services=["weather-service"]) as platform:
        yield platform.urls["weather-service"], platform.control("weather-service")


def _run(url: str, tmp_path: Path, **spec_fields: object) -> tuple[LoadRun, object]:
    spec = LoadSpec(locustfile=LOCUSTFILE, spawn_rate=50, **spec_fields)
    run = LoadRun(spec, url, tmp_path)
    run.start()
    return run, run.wait()


def test_measured_degradation_matches_injected_latency(weather, tmp_path):
    url, control = weather
    control.clear_behaviour()
    spec = LoadSpec(locustfile=LOCUSTFILE, users=4, spawn_rate=50, rate_per_user=10, duration=8)
    with LoadRun(spec, url, tmp_path) as run:
        deadline = time.monotonic() + 20
        while not run.samples() and time.monotonic() < deadline:
            time.sleep(0.1)
        first = run.samples()[0].t
        time.sleep(max(0.0, first + 3.5 - time.monotonic()))
        fault_start = time.monotonic()
        control.set_behaviour(latency=INJECTED_MS)
        outcome = run.wait()
    control.clear_behaviour()

    samples = run.samples()
    baseline = summarize(within(samples, first, fault_start - 0.2), 3.0)
    # Requests sent just before the switch may already see the fault; skip 0.2 s either side.
    fault = summarize(within(samples, fault_start + 0.2, fault_start + 10), 3.0)
    assert baseline.count > 20 and fault.count > 20, (baseline, fault)
    assert fault.errors == 0 and baseline.errors == 0
    degradation = fault.p50_ms - baseline.p50_ms
    assert abs(degradation - INJECTED_MS) <= TOLERANCE_MS, (baseline, fault)
    assert fault.max_ms >= fault.p99_ms >= fault.p50_ms  # exact percentiles never exceed the max
    assert outcome.ended_by == "duration"


def test_distributed_mode_measures_the_same_as_one_process(weather, tmp_path):
    url, control = weather
    control.set_behaviour(latency=50)
    try:
        results = {}
        for processes in (1, 2):
            run, outcome = _run(
                url, tmp_path / f"p{processes}", users=4, rate_per_user=10, duration=5, processes=processes
            )
            stats = summarize(run.samples(), outcome.duration_s)
            results[processes] = (stats, outcome)
    finally:
        control.clear_behaviour()

    (one, one_outcome), (two, two_outcome) = results[1], results[2]
    assert len(list((tmp_path / "p2" / "samples").glob("*.jsonl"))) == 2  # each worker wrote its own file
    assert abs(one.p50_ms - two.p50_ms) <= 15, (one, two)
    assert one.p50_ms == pytest.approx(50, abs=20)
    for outcome in (one_outcome, two_outcome):
        assert outcome.achieved_rps == pytest.approx(outcome.intended_rps, rel=0.35), outcome


def test_request_bound_stops_the_run(weather, tmp_path):
    url, control = weather
    control.clear_behaviour()
    _, outcome = _run(url, tmp_path, users=5, rate_per_user=50, duration=30, max_requests=60)
    assert outcome.ended_by == "max_requests"
    assert outcome.duration_s < 25
    assert 60 <= outcome.requests < 60 + 200  # the bound is checked every 0.25 s


def test_no_locust_process_outlives_a_stopped_run(weather, tmp_path):
    url, _ = weather
    spec = LoadSpec(locustfile=LOCUSTFILE, users=2, rate_per_user=5, duration=60, processes=2)
    run = LoadRun(spec, url, tmp_path)
    run.start()
    time.sleep(3)
    outcome = run.stop()
    assert outcome.ended_by == "stopped"
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert leftover == ""


def test_locust_is_never_imported_by_the_driver():
    code = (
        "import sys; import harness.load.runner, harness.load.spec; "
        "print('locust' in sys.modules, 'gevent' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "http://10.0.0.1:80"}, "loopback"),
        ({"users": 0}, "users"),
        ({"max_requests": 0}, "max_requests"),
        ({"processes": 64}, "processes"),
        ({"rps": 3}, "rps"),
    ],
)
def test_spec_rejects_bad_input_by_name(fields, message):
    with pytest.raises(ValidationError) as caught:
        LoadSpec(**fields)
    assert message in str(caught.value)


def test_spec_intended_rate_is_users_times_rate():
    spec = LoadSpec(users=7, rate_per_user=3)
    assert spec.intended_rps == 21
