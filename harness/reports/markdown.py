"""Markdown summary (``summary.md``), sized for a CI job summary (``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

import math

from harness.measure import Stats
from harness.result import RunResult, Status

__all__ = ["render", "status_line"]

_MARK = {Status.PASSED: "PASSED", Status.FAILED: "FAILED", Status.ABORTED: "ABORTED", Status.ERROR: "ERROR"}


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def status_line(result: RunResult) -> str:
    passed = sum(v.passed for v in result.gates)
    return (
        f"{_MARK[result.status]}: {result.scenario_name} - {passed}/{len(result.gates)} gates passed "
        f"({result.reason})"
    )


def _stats_row(phase: str, route: str, s: Stats) -> str:
    return (
        f"| {_cell(phase)} | {_cell(route)} | {s.count} | {s.throughput_rps:.1f} | {_ms(s.p50_ms)} | "
        f"{_ms(s.p95_ms)} | {_ms(s.p99_ms)} | {_ms(s.max_ms)} | {s.error_rate:.1%} | {s.fallback_rate:.1%} |"
    )


def render(result: RunResult) -> str:
    out = [
        f"## Chaos scenario `{result.scenario_name}`: {_MARK[result.status]}",
        "",
        status_line(result),
        "",
        f"Run `{result.run_id}`, seed {result.seed}, started {result.started_at}, {result.duration_s:.1f} s.",
    ]
    toxiproxy = result.environment.get("toxiproxy")
    if toxiproxy:
        out.append(f"Toxiproxy: {toxiproxy.get('kind')} ({toxiproxy.get('reason')}).")
    out += ["", "### Gates", ""]
    if result.gates:
        out += ["| | Gate | Expected | Observed | Detail |", "|---|---|---|---|---|"]
        for v in result.gates:
            observed = "-" if v.observed is None else f"{v.observed:.4g}"
            mark = "pass" if v.passed else "**FAIL**"
            out.append(
                f"| {mark} | {_cell(v.title)} | {_cell(v.threshold)} | {observed} | {_cell(v.detail)} |"
            )
    else:
        out.append("No gates were evaluated.")
    if result.steady_state:
        out += ["", "### Steady state", "", "| When | Probe | Holds | Detail |", "|---|---|---|---|"]
        for c in result.steady_state:
            out.append(f"| {c.when} | {_cell(c.probe)} | {'yes' if c.ok else '**no**'} | {_cell(c.detail)} |")
    if result.phases:
        out += [
            "",
            "### Phases (latency in ms)",
            "",
            "| Phase | Route | Requests | Req/s | p50 | p95 | p99 | Max | Errors | Fallbacks |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in result.phases:
            out.append(_stats_row(p.name, "all", p.overall))
            out += [_stats_row(p.name, route, s) for route, s in p.routes.items() if len(p.routes) > 1]
    if result.load:
        load = result.load
        out += [
            "",
            "### Load",
            "",
            f"Intended {load.get('intended_rps', 0):.1f} req/s, "
            f"achieved {load.get('achieved_rps', 0):.1f} req/s, "
            f"{load.get('requests', 0)} requests, {load.get('processes', 1)} process(es), ended by "
            f"{load.get('ended_by', '?')}.",
        ]
    if result.timeline:
        out += ["", "### Fault timeline", "", "| t (s) | Action | Fault | Result |", "|---|---|---|---|"]
        for e in result.timeline:
            outcome = "ok" if e.ok else f"**failed**: {_cell(e.error or '')}"
            out.append(f"| {e.t:.2f} | {e.action} | {_cell(e.description)} | {outcome} |")
    return "\n".join(out) + "\n"
