"""What the harness itself costs: validation, gates, reports, environment start-up, probe pacing.

Run: ``python bench/scenarios.py`` (about 30 s, loopback only). Prints one table.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from importlib import resources

from harness.gates import Measurements, PhaseWindow, SeriesPoint, evaluate_all
from harness.measure import Sample
from harness.plan import make_plan
from harness.probes import Sampler
from harness.reports import RENDERERS
from harness.result import RunResult, Status, summarize_phases
from harness.scenario import Probe, parse_scenario
from harness.toxiproxy.discovery import acquire_toxiproxy
from stubs.gateway.process import GatewayProcess
from stubs.platform import Platform
from stubs.services import UPSTREAMS

ROWS: list[tuple[str, str, str]] = []


def timed(label: str, fn: Callable[[], object], repeat: int = 1, note: str = "") -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    per = (time.perf_counter() - started) / repeat * 1000
    ROWS.append((label, f"{per:10.2f} ms", note))
    return per


def bench_validation() -> None:
    text = resources.files("harness").joinpath("templates/scenario.yaml").read_text().replace("__NAME__", "b")
    timed("parse + validate the starter scenario", lambda: parse_scenario(text), repeat=200, note="per file")


def synthetic(n: int) -> RunResult:
    rng = random.Random(1)
    phases = (PhaseWindow("baseline", 0, 30), PhaseWindow("fault", 30, 60), PhaseWindow("recovery", 60, 90))
    samples = tuple(
        Sample(
            t := i * 90 / n,
            f"r{i % 3}",
            rng.expovariate(1 / (200 if 30 <= t < 60 else 20)),
            rng.random() > 0.01,
        )
        for i in range(n)
    )
    series = {
        "breaker": tuple(SeriesPoint(t / 4, "open" if 120 <= t < 240 else "closed") for t in range(360))
    }
    scenario = parse_scenario(
        """
version: 1
name: bench
probes: {breaker: {breaker: {name: x}}}
phases: [{name: baseline, duration: 30}, {name: fault, duration: 30}, {name: recovery, duration: 30}]
gates:
  - {kind: latency, phase: fault, max_ms: 500}
  - {kind: latency_ratio, phase: fault, max_factor: 5}
  - {kind: error_rate, phase: fault, max: 0.05}
  - {kind: fallback_rate, phase: fault, max: 0.5}
  - {kind: breaker, probe: breaker, phase: fault}
  - {kind: value, probe: breaker, phase: fault, max: 1}
  - {kind: recovery, after: fault, within_s: 10}
"""
    )
    m = Measurements(samples, series, phases)
    verdicts = tuple(evaluate_all(make_plan(scenario).gates, m))
    return RunResult(
        "bench", "bench", None, {}, 1, {}, "", 90.0, Status.PASSED, "", {}, (), (), m, verdicts,
        phases=summarize_phases(m),
    )  # fmt: skip


def bench_gates_and_reports(n: int) -> None:
    result = synthetic(n)
    plan_gates = make_plan(parse_scenario(
        "version: 1\nname: g\nphases: [{name: baseline, duration: 30}, {name: fault, duration: 30}]\n"
        "gates: [{kind: latency, phase: fault, max_ms: 1}, {kind: recovery, after: fault, within_s: 1}]\n"
    )).gates  # fmt: skip
    timed(f"2 gates over {n:,} samples", lambda: evaluate_all(plan_gates, result.measurements), repeat=3)
    for fmt, render in RENDERERS.items():
        size = len(render(result))
        timed(f"render {fmt} ({n:,} samples)", lambda r=render: r(result), note=f"{size / 1024:,.0f} KiB")


def _toxiproxy(kind: str) -> None:
    with acquire_toxiproxy(prefer=kind):
        pass


def bench_environment() -> None:
    for kind in ("embedded", "binary"):
        with contextlib.suppress(Exception):  # no binary here: that row is simply missing
            timed(f"start + stop a Toxiproxy ({kind})", lambda k=kind: _toxiproxy(k))

    def platform_and_gateway() -> None:
        with Platform() as platform:
            upstreams = {name: url for name, url in platform.urls.items() if name in UPSTREAMS}
            with GatewayProcess(upstreams=upstreams):
                pass

    timed("start + stop the stubs and the gateway", platform_and_gateway)


def bench_pacing() -> None:
    with Platform(services=["user-service"]) as platform:
        probe = Probe.model_validate({"http": {"path": "/users/1"}, "every": 0.02})
        sampler = Sampler("u", probe, {"gateway": platform.urls["user-service"]}, time.monotonic()).start()
        time.sleep(3)
        sampler.stop()
        got = len(sampler.samples())
        ROWS.append(
            ("probe pacing at 50 req/s for 3 s", f"{got / 3:10.1f} /s", f"{got} samples, 150 intended")
        )


def main() -> None:
    bench_validation()
    bench_gates_and_reports(100_000)
    bench_environment()
    bench_pacing()
    width = max(len(label) for label, _, _ in ROWS)
    print(f"{'what':<{width}}  {'cost':>13}  note")
    for label, value, note in ROWS:
        print(f"{label:<{width}}  {value:>13}  {note}")


if __name__ == "__main__":
    main()
