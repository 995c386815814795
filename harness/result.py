"""The result document: the single record of a run, from which every report is rebuilt.

One JSON-able, frozen :class:`RunResult`: the scenario (as validated), the seed, versions, which
Toxiproxy was used, the journal of every fault applied and removed, the steady-state checks, per-phase
statistics, every raw sample and value reading, the gate verdicts, the load outcome and the status.
The status is computed once, by :func:`decide_status`, from those parts.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.gates import Measurements, PhaseWindow, SeriesPoint, Verdict
from harness.measure import Sample, Stats, by_route, summarize, within

__all__ = [
    "FORMAT",
    "ExitCode",
    "JournalEntry",
    "PhaseSummary",
    "ProbeCheck",
    "RunResult",
    "Status",
    "decide_status",
    "load_result",
    "stats_from_dict",
    "summarize_phases",
]

FORMAT = "harness-result/1"
_SAMPLE_FIELDS = tuple(Sample.__dataclass_fields__)  # plain getattr: asdict() deep-copies, 10x slower


class Status(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"
    ERROR = "error"

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT[self]


class ExitCode(enum.IntEnum):
    """Process exit codes of ``harness run`` (and the other commands)."""

    PASSED = 0
    FAILED = 1  # a gate or the steady-state hypothesis failed
    USAGE = 2  # invalid input or usage
    ABORTED = 3  # interrupted (Ctrl-C, SIGTERM) or stopped early by an abort gate; faults removed
    HARNESS_ERROR = 4  # the harness itself failed


_EXIT = {
    Status.PASSED: ExitCode.PASSED,
    Status.FAILED: ExitCode.FAILED,
    Status.ABORTED: ExitCode.ABORTED,
    Status.ERROR: ExitCode.HARNESS_ERROR,
}


@dataclass(frozen=True)
class JournalEntry:
    """A fault applied or removed (or a leftover cleaned); ``t`` in seconds since t0 (may be negative)."""

    t: float
    action: str  # apply | remove | cleanup
    key: str
    phase: str
    description: str
    ok: bool = True
    error: str | None = None


@dataclass(frozen=True)
class ProbeCheck:
    """One steady-state probe check: ``when`` is ``before`` or ``after``."""

    when: str
    probe: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class PhaseSummary:
    """Statistics of one phase: over every HTTP sample (``overall``) and per route."""

    name: str
    start: float
    end: float
    overall: Stats
    routes: dict[str, Stats]


def stats_from_dict(data: dict[str, Any]) -> Stats:
    names = Stats.__dataclass_fields__
    return Stats(**{k: (math.nan if v is None else v) for k, v in data.items() if k in names})


def _stats_dict(stats: Stats) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in stats.to_dict().items()}


def summarize_phases(m: Measurements) -> tuple[PhaseSummary, ...]:
    out = []
    for w in m.phases:
        samples = within(m.samples, w.start, w.end)
        duration = w.end - w.start
        out.append(
            PhaseSummary(w.name, w.start, w.end, summarize(samples, duration), by_route(samples, duration))
        )
    return tuple(out)


def decide_status(
    *,
    error: str | None,
    interrupted: bool,
    steady_state: tuple[ProbeCheck, ...],
    gates: tuple[Verdict, ...],
) -> Status:
    """Harness error beats interruption beats a failed hypothesis or gate; otherwise passed."""
    if error is not None:
        return Status.ERROR
    if interrupted:
        return Status.ABORTED
    if not all(c.ok for c in steady_state) or not all(v.passed for v in gates):
        return Status.FAILED
    return Status.PASSED


@dataclass(frozen=True)
class RunResult:
    run_id: str
    scenario_name: str
    scenario_file: str | None
    scenario: dict[str, Any]
    seed: int
    versions: dict[str, str]
    started_at: str  # ISO 8601, UTC
    duration_s: float
    status: Status
    reason: str  # one sentence: why this status
    environment: dict[str, Any]  # toxiproxy kind/url/reason, services started and their URLs
    timeline: tuple[JournalEntry, ...]
    steady_state: tuple[ProbeCheck, ...]
    measurements: Measurements
    gates: tuple[Verdict, ...]
    load: dict[str, Any] | None = None
    aborted_by: str | None = None
    phases: tuple[PhaseSummary, ...] = field(default=())

    @property
    def exit_code(self) -> ExitCode:
        return self.status.exit_code

    def to_dict(self) -> dict[str, Any]:
        m = self.measurements
        return {
            "format": FORMAT,
            "run_id": self.run_id,
            "scenario_name": self.scenario_name,
            "scenario_file": self.scenario_file,
            "scenario": self.scenario,
            "seed": self.seed,
            "versions": self.versions,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "status": self.status.value,
            "exit_code": int(self.exit_code),
            "reason": self.reason,
            "aborted_by": self.aborted_by,
            "environment": self.environment,
            "timeline": [vars(e) for e in self.timeline],
            "steady_state": [vars(c) for c in self.steady_state],
            "phases": [
                {
                    "name": p.name,
                    "start": p.start,
                    "end": p.end,
                    "overall": _stats_dict(p.overall),
                    "routes": {r: _stats_dict(s) for r, s in p.routes.items()},
                }
                for p in self.phases
            ],
            "gates": [v.to_dict() for v in self.gates],
            "load": self.load,
            "samples": [{name: getattr(s, name) for name in _SAMPLE_FIELDS} for s in m.samples],
            "series": {name: [p.to_dict() for p in points] for name, points in m.series.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        if data.get("format") != FORMAT:
            raise ValueError(
                f"not a harness result document (format {data.get('format')!r}, expected {FORMAT!r})"
            )
        phases = tuple(
            PhaseSummary(
                p["name"],
                p["start"],
                p["end"],
                stats_from_dict(p["overall"]),
                {r: stats_from_dict(s) for r, s in p["routes"].items()},
            )
            for p in data["phases"]
        )
        m = Measurements(
            samples=tuple(Sample.from_dict(s) for s in data["samples"]),
            series={n: tuple(SeriesPoint(**p) for p in pts) for n, pts in data["series"].items()},
            phases=tuple(PhaseWindow(p.name, p.start, p.end) for p in phases),
        )
        return cls(
            run_id=data["run_id"],
            scenario_name=data["scenario_name"],
            scenario_file=data.get("scenario_file"),
            scenario=data["scenario"],
            seed=data["seed"],
            versions=data["versions"],
            started_at=data["started_at"],
            duration_s=data["duration_s"],
            status=Status(data["status"]),
            reason=data["reason"],
            environment=data.get("environment", {}),
            timeline=tuple(JournalEntry(**e) for e in data["timeline"]),
            steady_state=tuple(ProbeCheck(**c) for c in data["steady_state"]),
            measurements=m,
            gates=tuple(Verdict.from_dict(v) for v in data["gates"]),
            load=data.get("load"),
            aborted_by=data.get("aborted_by"),
            phases=phases,
        )


def load_result(path: str | Path) -> RunResult:
    """Read a ``result.json``; raises ``ValueError`` naming the file for anything unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return RunResult.from_dict(data)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid harness result: {exc}") from None
