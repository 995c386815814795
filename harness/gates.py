"""Gate verdicts, computed from measurements only (never from live services).

:class:`Measurements` is everything a run measured: HTTP samples (probes and load), value series
(breaker state, DLQ stats, metrics) and the phase windows. :func:`evaluate` dispatches on the gate's
type (one small function per kind), so a verdict can be recomputed from a stored result.

Abort while running: :func:`clearly_breached` evaluates an ``abort: true`` gate on the data so far and
says yes only when it already fails on at least :data:`ABORT_MIN_SAMPLES` samples of its phase (or, for a
value gate on ``max``, as soon as a value exceeds it: a maximum can only grow).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.measure import Sample, Stats, percentile, summarize, within
from harness.scenario import (
    BreakerGate,
    ErrorRateGate,
    FallbackRateGate,
    Gate,
    LatencyGate,
    LatencyRatioGate,
    RecoveryGate,
    ValueGate,
)

__all__ = [
    "ABORT_MIN_SAMPLES",
    "Measurements",
    "PhaseWindow",
    "SeriesPoint",
    "Verdict",
    "clearly_breached",
    "evaluate",
    "evaluate_all",
    "route_matches",
]

ABORT_MIN_SAMPLES = 20


@dataclass(frozen=True)
class PhaseWindow:
    """A phase as it actually ran: ``[start, end)`` in seconds since the run's t0."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class SeriesPoint:
    """One reading of a value probe: a number, a state name, or None when the read failed."""

    t: float
    value: float | str | None
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t, "value": self.value, "ok": self.ok}


@dataclass(frozen=True)
class Measurements:
    samples: tuple[Sample, ...] = ()
    series: dict[str, tuple[SeriesPoint, ...]] = field(default_factory=dict)
    phases: tuple[PhaseWindow, ...] = ()

    def window(self, name: str) -> PhaseWindow:
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise KeyError(f"phase {name!r} did not run")

    def route_samples(self, route: str | None, phase: str) -> list[Sample]:
        w = self.window(phase)
        return [s for s in within(self.samples, w.start, w.end) if route_matches(s.route, route)]

    def routes(self) -> list[str]:
        return sorted({s.route for s in self.samples})

    def series_in(self, probe: str, phase: str) -> list[SeriesPoint]:
        w = self.window(phase)
        return [p for p in self.series.get(probe, ()) if w.start <= p.t < w.end]

    def stats(self, route: str | None, phase: str) -> Stats:
        w = self.window(phase)
        return summarize(self.route_samples(route, phase), w.end - w.start)


def route_matches(sample_route: str, route: str | None) -> bool:
    """None matches every route; ``/users/{id}`` also matches Locust's ``GET /users/{id}``."""
    return route is None or sample_route == route or sample_route.split(" ", 1)[-1] == route


@dataclass(frozen=True)
class Verdict:
    """A gate's outcome: ``observed`` is the measured number (None when nothing was measured)."""

    title: str
    kind: str
    passed: bool
    observed: float | None
    threshold: str
    detail: str
    abort: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "kind": self.kind,
            "passed": self.passed,
            "observed": None if self.observed is None or math.isnan(self.observed) else self.observed,
            "threshold": self.threshold,
            "detail": self.detail,
            "abort": self.abort,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(**data)


@dataclass(frozen=True)
class _Outcome:
    passed: bool
    observed: float | None
    threshold: str
    detail: str
    count: int


def _route(route: str | None) -> str:
    return route or "all routes"


def _nothing(m: Measurements, route: str | None, phase: str) -> str:
    return f"no samples of {_route(route)} in {phase}; routes measured: {', '.join(m.routes()) or 'none'}"


@functools.singledispatch
def _check(gate: Any, m: Measurements) -> _Outcome:
    raise TypeError(f"no evaluation for gate type {type(gate).__name__}")


@_check.register
def _(gate: LatencyGate, m: Measurements) -> _Outcome:
    samples = m.route_samples(gate.route, gate.phase)
    value = percentile(sorted(s.latency_ms for s in samples), gate.percentile)
    if not samples:
        return _Outcome(False, None, f"<= {gate.max_ms:g} ms", _nothing(m, gate.route, gate.phase), 0)
    detail = f"p{gate.percentile:g} = {value:.1f} ms over {len(samples)} samples"
    return _Outcome(value <= gate.max_ms, value, f"<= {gate.max_ms:g} ms", detail, len(samples))


@_check.register
def _(gate: LatencyRatioGate, m: Measurements) -> _Outcome:
    base_phase = gate.baseline or m.phases[0].name
    base = m.route_samples(gate.route, base_phase)
    now = m.route_samples(gate.route, gate.phase)
    threshold = f"<= {gate.max_factor:g}x {base_phase}"
    if not base or not now:
        missing = base_phase if not base else gate.phase
        return _Outcome(False, None, threshold, _nothing(m, gate.route, missing), len(now))
    p_base = percentile(sorted(s.latency_ms for s in base), gate.percentile)
    p_now = percentile(sorted(s.latency_ms for s in now), gate.percentile)
    ratio = p_now / max(p_base, 1.0)  # a sub-millisecond baseline counts as 1 ms: ratios stay finite
    detail = f"p{gate.percentile:g} {p_now:.1f} ms vs {p_base:.1f} ms in {base_phase} = {ratio:.2f}x"
    return _Outcome(ratio <= gate.max_factor, ratio, threshold, detail, len(now))


@_check.register
def _(gate: ErrorRateGate, m: Measurements) -> _Outcome:
    stats = m.stats(gate.route, gate.phase)
    if not stats.count:
        return _Outcome(False, None, f"<= {gate.max:.1%}", _nothing(m, gate.route, gate.phase), 0)
    detail = f"{stats.errors} of {stats.count} failed ({stats.error_rate:.1%})"
    return _Outcome(stats.error_rate <= gate.max, stats.error_rate, f"<= {gate.max:.1%}", detail, stats.count)


def _bounds(lo: float | None, hi: float | None, fmt: str) -> str:
    parts = [
        f">= {format(lo, fmt)}" if lo is not None else "",
        f"<= {format(hi, fmt)}" if hi is not None else "",
    ]
    return " and ".join(p for p in parts if p)


def _inside(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


@_check.register
def _(gate: FallbackRateGate, m: Measurements) -> _Outcome:
    stats = m.stats(gate.route, gate.phase)
    threshold = _bounds(gate.min, gate.max, ".1%")
    if not stats.count:
        return _Outcome(False, None, threshold, _nothing(m, gate.route, gate.phase), 0)
    detail = f"{stats.fallbacks} of {stats.count} answered by a fallback ({stats.fallback_rate:.1%})"
    passed = _inside(stats.fallback_rate, gate.min, gate.max)
    return _Outcome(passed, stats.fallback_rate, threshold, detail, stats.count)


@_check.register
def _(gate: BreakerGate, m: Measurements) -> _Outcome:
    points = m.series_in(gate.probe, gate.phase)
    states = [str(p.value) for p in points if p.ok and p.value is not None]
    seen = sorted(set(states))
    reached = sum(s in (gate.reached, f"forced_{gate.reached}") for s in states)  # forced open is open
    detail = f"{reached} of {len(points)} readings {gate.reached}; states seen: {', '.join(seen) or 'none'}"
    return _Outcome(reached > 0, float(reached), f"reached {gate.reached}", detail, len(points))


_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "max": max,
    "min": min,
    "last": lambda values: values[-1],
    "mean": lambda values: sum(values) / len(values),
}


@_check.register
def _(gate: ValueGate, m: Measurements) -> _Outcome:
    points = m.series_in(gate.probe, gate.phase)
    values = [float(p.value) for p in points if p.ok and isinstance(p.value, int | float)]
    threshold = _bounds(gate.min, gate.max, "g")
    if not values:
        return _Outcome(False, None, threshold, f"no readings of {gate.probe} in {gate.phase}", 0)
    value = float(_AGGREGATES[gate.aggregate](values))
    detail = f"{gate.aggregate} = {value:g} over {len(values)} readings"
    return _Outcome(_inside(value, gate.min, gate.max), value, threshold, detail, len(values))


def recovery_time(
    samples: Sequence[Sample], fault_end: float, limit_ms: float, window_s: float = 1.0, min_samples: int = 3
) -> float | None:
    """Seconds from ``fault_end`` to the start of the first healthy window; None if there is none.

    A window is the samples sent within ``window_s`` seconds from one sample on; it is healthy when
    it has at least ``min_samples`` samples, none failed or was a fallback, and their median latency
    is at most ``limit_ms``. A median, not every sample: one scheduling hiccup on a busy machine is
    not an unrecovered service, while a single error still is.
    """
    ordered = sorted(samples, key=lambda s: s.t)
    end = 0
    for i, first in enumerate(ordered):
        if first.t + window_s > ordered[-1].t:
            break  # only whole windows: a short healthy tail does not prove a recovery
        end = max(end, i)
        while end < len(ordered) and ordered[end].t < first.t + window_s:
            end += 1
        window = ordered[i:end]
        if len(window) < min_samples or any(not s.ok or s.fallback for s in window):
            continue
        if percentile(sorted(s.latency_ms for s in window), 50) <= limit_ms:
            return max(0.0, first.t - fault_end)
    return None


@_check.register
def _(gate: RecoveryGate, m: Measurements) -> _Outcome:
    base_phase = gate.baseline or m.phases[0].name
    base = m.route_samples(gate.route, base_phase)
    fault_end = m.window(gate.after).end
    run_end = m.phases[-1].end
    after = [s for s in within(m.samples, fault_end, run_end) if route_matches(s.route, gate.route)]
    threshold = f"<= {gate.within_s:g} s"
    if not base or not after:
        where = base_phase if not base else f"after {gate.after}"
        return _Outcome(False, None, threshold, f"no samples of {_route(gate.route)} {where}", 0)
    p95 = percentile(sorted(s.latency_ms for s in base), 95)
    limit = max(gate.tolerance * p95, p95 + gate.slack_ms)
    took = recovery_time(after, fault_end, limit, gate.window_s)
    healthy = f"healthy: {gate.window_s:g} s without errors or fallbacks, median <= {limit:.0f} ms"
    if took is None:
        return _Outcome(False, None, threshold, f"never healthy after {gate.after} ({healthy})", len(after))
    detail = f"recovered {took:.2f} s after {gate.after} ended ({healthy})"
    return _Outcome(took <= gate.within_s, took, threshold, detail, len(after))


def evaluate(title: str, gate: Gate, m: Measurements) -> Verdict:
    """The verdict of one gate; a phase that never ran is a failed gate, not an exception."""
    try:
        outcome = _check(gate, m)
    except KeyError as exc:
        return Verdict(title, gate.kind, False, None, "", str(exc.args[0]), gate.abort)
    return Verdict(
        title, gate.kind, outcome.passed, outcome.observed, outcome.threshold, outcome.detail, gate.abort
    )


def evaluate_all(gates: Sequence[tuple[str, Gate]], m: Measurements) -> list[Verdict]:
    return [evaluate(title, gate, m) for title, gate in gates]


def clearly_breached(gate: Gate, m: Measurements) -> _Outcome | None:
    """The failing outcome when an ``abort`` gate already clearly fails on the data so far, else None."""
    if not gate.abort or isinstance(gate, BreakerGate | RecoveryGate):
        return None  # "reached" and "recovered" can only be judged at the end
    try:
        outcome = _check(gate, m)
    except KeyError:
        return None
    if outcome.passed or outcome.observed is None:
        return None
    if isinstance(gate, ValueGate):
        monotone = gate.aggregate == "max" and gate.max is not None and outcome.observed > gate.max
        return outcome if monotone else None
    if isinstance(gate, FallbackRateGate) and (gate.max is None or outcome.observed <= gate.max):
        return None  # too few fallbacks so far may still change: only an exceeded max is clear
    return outcome if outcome.count >= ABORT_MIN_SAMPLES else None
