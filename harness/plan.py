"""The plan: a scenario laid out on a timeline, before anything runs.

Times are seconds from the start of the first phase. Each phase's faults are applied at its start
and removed at its end; gates are evaluated once every phase ran and the steady state was checked
again. ``harness plan`` prints :func:`render_plan`; the runner executes the same :class:`Plan`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from harness.scenario import (
    BreakerGate,
    DownFault,
    ErrorRateGate,
    FallbackRateGate,
    Fault,
    Gate,
    LatencyGate,
    LatencyRatioGate,
    RecoveryGate,
    Scenario,
    StubFault,
    ValueGate,
)
from stubs.behaviour import Behaviour
from stubs.behaviour import Fault as StubBehaviour

__all__ = [
    "Plan",
    "PlannedFault",
    "PlannedPhase",
    "Step",
    "StepKind",
    "describe_fault",
    "gate_title",
    "make_plan",
    "render_plan",
]


class StepKind(enum.Enum):
    STEADY_STATE = "steady-state"
    PHASE = "phase"
    APPLY = "apply"
    REMOVE = "remove"
    GATES = "gates"


@dataclass(frozen=True)
class PlannedFault:
    """One fault of one phase; ``key`` is stable within the run (``<phase>#<index>``)."""

    key: str
    phase: str
    fault: Fault
    description: str

    @property
    def kind(self) -> str:
        return (
            "down"
            if isinstance(self.fault, DownFault)
            else "stub"
            if isinstance(self.fault, StubFault)
            else "toxic"
        )


@dataclass(frozen=True)
class PlannedPhase:
    name: str
    start: float
    end: float
    faults: tuple[PlannedFault, ...]

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Step:
    """One line of the timeline."""

    t: float
    kind: StepKind
    text: str


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    phases: tuple[PlannedPhase, ...]
    gates: tuple[tuple[str, Gate], ...]

    @property
    def duration(self) -> float:
        return self.phases[-1].end

    def phase(self, name: str) -> PlannedPhase:
        return next(p for p in self.phases if p.name == name)

    def steps(self) -> list[Step]:
        steps = [Step(0.0, StepKind.STEADY_STATE, self._steady_text("before the faults"))]
        for phase in self.phases:
            steps.append(Step(phase.start, StepKind.PHASE, f"phase {phase.name} ({phase.duration:g} s)"))
            steps += [Step(phase.start, StepKind.APPLY, f.description) for f in phase.faults]
            steps += [Step(phase.end, StepKind.REMOVE, f.description) for f in phase.faults]
        steps.append(Step(self.duration, StepKind.STEADY_STATE, self._steady_text("after recovery")))
        steps += [Step(self.duration, StepKind.GATES, title) for title, _ in self.gates]
        return steps

    def _steady_text(self, when: str) -> str:
        names = ", ".join(self.scenario.steady_state) or "none declared"
        return f"steady state {when}: {names}"


def gate_title(gate: Gate) -> str:
    """The gate's own ``name``, or a short sentence saying what it checks."""
    if gate.name:
        return gate.name
    route = getattr(gate, "route", None) or "all routes"
    match gate:
        case LatencyGate():
            return f"p{gate.percentile:g} of {route} in {gate.phase} <= {gate.max_ms:g} ms"
        case LatencyRatioGate():
            base = gate.baseline or "baseline"
            return f"p{gate.percentile:g} of {route} in {gate.phase} <= {gate.max_factor:g}x {base}"
        case ErrorRateGate():
            return f"error rate of {route} in {gate.phase} <= {gate.max:.1%}"
        case FallbackRateGate():
            bounds = " and ".join(
                f"{op} {v:.1%}" for op, v in ((">=", gate.min), ("<=", gate.max)) if v is not None
            )
            return f"fallback rate of {route} in {gate.phase} {bounds}"
        case BreakerGate():
            return f"breaker {gate.probe} reached {gate.reached} in {gate.phase}"
        case ValueGate():
            bounds = " and ".join(
                f"{op} {v:g}" for op, v in ((">=", gate.min), ("<=", gate.max)) if v is not None
            )
            return f"{gate.aggregate} of {gate.probe} in {gate.phase} {bounds}"
        case RecoveryGate():
            return f"{route} recovers within {gate.within_s:g} s after {gate.after}"
    raise TypeError(f"unknown gate {gate!r}")  # pragma: no cover - the union is closed


def _stub_fields(fault: StubBehaviour) -> dict[str, Any]:
    """The fields of a stub fault that differ from a healthy stub, and ``error_status`` whenever the
    fault returns errors (it has a default, 503, which ``exclude_defaults`` would hide)."""
    shown = fault.model_dump(mode="json", exclude_defaults=True)
    if fault.error_rate > 0 or fault.fail_first > 0:
        shown["error_status"] = fault.error_status
    if isinstance(fault, Behaviour) and fault.schedule:
        shown["schedule"] = [
            {"duration_s": step.duration_s, **({"fault": f} if (f := _stub_fields(step.fault)) else {})}
            for step in fault.schedule
        ]
    order = list(type(fault).model_fields)
    return dict(sorted(shown.items(), key=lambda item: order.index(item[0])))


def describe_fault(fault: Fault) -> str:
    """One line saying what a fault does; a stub fault names its error statuses when it fails requests."""
    if isinstance(fault, StubFault):
        fields = _stub_fields(fault.behaviour)
        return f"stub {fault.stub}: " + ", ".join(f"{k}={v}" for k, v in fields.items())
    return fault.describe()


def make_plan(scenario: Scenario) -> Plan:
    phases = []
    start = 0.0
    for phase in scenario.phases:
        faults = tuple(
            PlannedFault(f"{phase.name}#{i}", phase.name, fault, describe_fault(fault))
            for i, fault in enumerate(phase.faults)
        )
        phases.append(PlannedPhase(phase.name, start, start + phase.duration, faults))
        start += phase.duration
    titles: list[tuple[str, Gate]] = []
    used: dict[str, int] = {}
    for gate in scenario.gates:
        title = gate_title(gate)
        used[title] = used.get(title, 0) + 1
        titles.append((title if used[title] == 1 else f"{title} ({used[title]})", gate))
    return Plan(scenario, tuple(phases), tuple(titles))


def render_plan(plan: Plan) -> str:
    """The timeline as text, one step a line: ``  +3.0 s  apply  latency(latency=500) on proxy ...``."""
    s = plan.scenario
    lines = [f"scenario {s.name}: {len(plan.phases)} phases, {plan.duration:g} s"]
    if s.description:
        lines.append(f"  {s.description.strip()}")
    if s.proxies:
        lines.append("proxies: " + ", ".join(f"{n} -> {p.upstream}" for n, p in s.proxies.items()))
    if s.probes:
        lines.append(
            "probes: " + ", ".join(f"{n} ({p.kind}, every {p.every:g} s)" for n, p in s.probes.items())
        )
    if s.load:
        lines.append(f"load: {s.load.users} users, {s.load.intended_rps:g} req/s intended")
    lines.append("")
    lines += [f"{step.t:7.1f} s  {step.kind.value:<12} {step.text}" for step in plan.steps()]
    return "\n".join(lines)
