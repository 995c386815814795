"""A self-contained HTML page: verdicts, tables and inline SVG charts, no scripts or external files.

Charts share one time axis (seconds since t0): latency (every sample as a dot, p95 per bin as a
line), error and fallback rate per bin, breaker states (0 closed, 1 half-open, 2 open) and value
probes. Fault windows (from the journal's apply/remove pairs) are shaded and phases are separated by
dashed lines, so cause and effect line up vertically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from harness.measure import Sample, percentile
from harness.reports.markdown import status_line
from harness.result import RunResult, Status

__all__ = ["fault_windows", "render"]

_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 1000, 220, 60, 240, 24, 30  # the right pad holds the legend
_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
_MAX_DOTS = 4000
_BREAKER_LEVEL = {"closed": 0.0, "half_open": 1.0, "half-open": 1.0, "open": 2.0, "forced_open": 2.0}


@dataclass(frozen=True)
class _Line:
    label: str
    points: Sequence[tuple[float, float]]
    style: str = "line"  # line | dots | step


def fault_windows(result: RunResult) -> list[tuple[float, float, str]]:
    """(start, end, description) per applied fault; a fault never removed lasts to the end of the run."""
    end_of_run = result.measurements.phases[-1].end if result.measurements.phases else result.duration_s
    opened: dict[str, tuple[float, str]] = {}
    windows = []
    for e in result.timeline:
        if e.action == "apply" and e.ok:
            opened[e.key] = (e.t, e.description)
        elif e.action == "remove" and e.key in opened:
            start, text = opened.pop(e.key)
            windows.append((start, e.t, text))
    windows += [(start, end_of_run, text) for start, text in opened.values()]
    return sorted(windows)


def _bins(samples: Sequence[Sample], t_end: float) -> list[tuple[float, list[Sample]]]:
    width = max(0.5, t_end / 60)
    bins: dict[int, list[Sample]] = {}
    for s in samples:
        bins.setdefault(int(s.t // width), []).append(s)
    return [((i + 0.5) * width, bins[i]) for i in sorted(bins)]


def _chart(
    title: str,
    lines: Sequence[_Line],
    x_max: float,
    windows: Sequence[tuple[float, float, str]],
    phases: Sequence[tuple[float, str]],
    *,
    y_label: str,
    y_ticks: Sequence[tuple[float, str]] | None = None,
) -> str:
    ys = [y for line in lines for _, y in line.points if not math.isnan(y)]
    y_max = max([*ys, *(t for t, _ in y_ticks or [])], default=1.0) or 1.0
    y_max *= 1.08
    x_max = x_max or 1.0
    plot_w, plot_h = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def x(t: float) -> float:
        return _PAD_L + max(0.0, min(t, x_max)) / x_max * plot_w

    def y(v: float) -> float:
        return _PAD_T + plot_h - v / y_max * plot_h

    svg = [
        f'<svg viewBox="0 0 {_W} {_H}" width="100%" role="img" aria-label="{escape(title)}">',
        f'<text x="{_PAD_L}" y="16" class="t">{escape(title)}</text>',
    ]
    for start, end, text in windows:
        svg.append(
            f'<rect x="{x(start):.1f}" y="{_PAD_T}" width="{max(1.0, x(end) - x(start)):.1f}" '
            f'height="{plot_h}" '
            f'class="fault"><title>{escape(text)} ({start:.1f}-{end:.1f} s)</title></rect>'
        )
    for t, name in phases:
        svg.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{_PAD_T}" y2="{_PAD_T + plot_h}" class="phase"/>'
        )
        svg.append(f'<text x="{x(t) + 3:.1f}" y="{_PAD_T + 11}" class="p">{escape(name)}</text>')
    ticks = y_ticks or [(y_max / 1.08 * i / 4, f"{y_max / 1.08 * i / 4:.3g}") for i in range(5)]
    for value, text in ticks:
        svg.append(
            f'<line x1="{_PAD_L}" x2="{_PAD_L + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'class="grid"/>'
        )
        svg.append(f'<text x="{_PAD_L - 4}" y="{y(value) + 4:.1f}" class="yl">{escape(text)}</text>')
    mid = _PAD_T + plot_h / 2
    for i in range(6):
        t = x_max * i / 5
        svg.append(f'<text x="{x(t):.1f}" y="{_H - 10}" class="xl">{t:.1f} s</text>')
    svg.append(
        f'<text x="14" y="{mid:.0f}" class="yl" transform="rotate(-90 14 {mid:.0f})">{escape(y_label)}</text>'
    )
    for index, line in enumerate(lines):
        colour = _COLOURS[index % len(_COLOURS)]
        pts = [(x(t), y(v)) for t, v in line.points if not math.isnan(v)]
        if line.style == "dots":
            svg += [
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="1.6" fill="{colour}" opacity="0.45"/>'
                for px, py in pts
            ]
        elif pts:
            if line.style == "step":
                stepped = [pts[0]]
                for px, py in pts[1:]:
                    stepped += [(px, stepped[-1][1]), (px, py)]
                pts = stepped
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            svg.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        legend_y = _PAD_T + 14 * index + 10
        svg.append(
            f'<rect x="{_W - _PAD_R + 10}" y="{legend_y - 8}" width="10" height="10" fill="{colour}"/>'
        )
        svg.append(f'<text x="{_W - _PAD_R + 24}" y="{legend_y + 1}" class="lg">{escape(line.label)}</text>')
    svg.append("</svg>")
    return "\n".join(svg)


def _charts(result: RunResult) -> list[str]:
    m = result.measurements
    x_max = m.phases[-1].end if m.phases else result.duration_s
    windows = fault_windows(result)
    phases = [(p.start, p.name) for p in m.phases]
    routes = sorted({s.route for s in m.samples})
    charts = []
    if m.samples:
        step = max(1, len(m.samples) // _MAX_DOTS)
        dots = [
            _Line(f"{r} (samples)", [(s.t, s.latency_ms) for s in m.samples[::step] if s.route == r], "dots")
            for r in routes
        ]
        p95 = [
            _Line(
                f"{r} p95",
                [
                    (t, percentile(sorted(s.latency_ms for s in b), 95))
                    for t, b in _bins([s for s in m.samples if s.route == r], x_max)
                ],
            )
            for r in routes
        ]
        charts.append(_chart("Latency", [*p95, *dots], x_max, windows, phases, y_label="ms"))
        rates = []
        for r in routes:
            binned = _bins([s for s in m.samples if s.route == r], x_max)
            rates.append(
                _Line(f"{r} errors", [(t, 100 * sum(not s.ok for s in b) / len(b)) for t, b in binned])
            )
            if any(s.fallback for s in m.samples if s.route == r):
                rates.append(
                    _Line(
                        f"{r} fallbacks", [(t, 100 * sum(s.fallback for s in b) / len(b)) for t, b in binned]
                    )
                )
        ticks = [(v, f"{v:.0f}%") for v in (0.0, 25.0, 50.0, 75.0, 100.0)]
        charts.append(
            _chart(
                "Error and fallback rate",
                rates,
                x_max,
                windows,
                phases,
                y_label="% of requests",
                y_ticks=ticks,
            )
        )
    breakers = {
        name: [(p.t, _BREAKER_LEVEL[str(p.value)]) for p in pts if str(p.value) in _BREAKER_LEVEL]
        for name, pts in m.series.items()
        if any(str(p.value) in _BREAKER_LEVEL for p in pts)
    }
    if breakers:
        ticks = [(0.0, "closed"), (1.0, "half-open"), (2.0, "open")]
        lines = [_Line(name, pts, "step") for name, pts in breakers.items()]
        charts.append(_chart("Breaker state", lines, x_max, windows, phases, y_label="state", y_ticks=ticks))
    values = {
        name: [(p.t, float(p.value)) for p in pts if isinstance(p.value, int | float)]
        for name, pts in m.series.items()
        if name not in breakers
    }
    values = {k: v for k, v in values.items() if v}
    if values:
        lines = [_Line(name, pts, "step") for name, pts in values.items()]
        charts.append(_chart("Values (DLQ, metrics)", lines, x_max, windows, phases, y_label="value"))
    return charts


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{classes[i] if i < len(classes) else ""}">'
        + "".join(f"<td>{escape(c)}</td>" for c in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _ms(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.1f}"


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px} h2{font-size:17px;margin-top:28px}
.badge{padding:2px 8px;border-radius:4px;color:#fff}
.passed{background:#2ca02c}.failed{background:#d62728}.aborted{background:#ff7f0e}.error{background:#7f7f7f}
table{border-collapse:collapse;margin:8px 0;width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left}
tr.fail td{background:#fde8e8} tr.pass td{background:#ecf8ec}
svg{border:1px solid #eee;margin:8px 0} .t{font-weight:600;font-size:13px}
.fault{fill:#d62728;opacity:.12} .phase{stroke:#888;stroke-dasharray:4 3} .grid{stroke:#eee}
.xl{font-size:10px;text-anchor:middle} .yl{font-size:10px;text-anchor:end} .p{font-size:10px;fill:#555}
.lg{font-size:10px}
"""


def render(result: RunResult) -> str:
    status = result.status.value
    versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(result.scenario_name)}: {status}</title><style>{_CSS}</style></head><body>",
        f'<h1>{escape(result.scenario_name)} <span class="badge {status}">{status.upper()}</span></h1>',
        f"<p>{escape(status_line(result))}</p>",
        f"<p>Run <code>{escape(result.run_id)}</code>, seed {result.seed}, "
        f"started {escape(result.started_at)}, "
        f"{result.duration_s:.1f} s. Versions: {escape(versions)}.</p>",
    ]
    if result.status in (Status.ABORTED, Status.ERROR):
        parts.append(f"<p><strong>{escape(result.reason)}</strong></p>")
    parts.append("<h2>Gates</h2>")
    parts.append(
        _table(
            ["", "Gate", "Expected", "Observed", "Detail"],
            [
                [
                    "pass" if v.passed else "FAIL",
                    v.title,
                    v.threshold,
                    "-" if v.observed is None else f"{v.observed:.4g}",
                    v.detail,
                ]
                for v in result.gates
            ],
            ["pass" if v.passed else "fail" for v in result.gates],
        )
    )
    parts.append("<h2>Over time</h2><p>Shaded: faults in force. Dashed: phase starts.</p>")
    parts += _charts(result)
    if result.steady_state:
        parts.append("<h2>Steady state</h2>")
        parts.append(
            _table(
                ["When", "Probe", "Holds", "Detail"],
                [[c.when, c.probe, "yes" if c.ok else "no", c.detail] for c in result.steady_state],
                ["pass" if c.ok else "fail" for c in result.steady_state],
            )
        )
    if result.phases:
        parts.append("<h2>Phases</h2>")
        rows = []
        for p in result.phases:
            for route, s in [("all", p.overall), *p.routes.items()]:
                rows.append(
                    [p.name, route, str(s.count), f"{s.throughput_rps:.1f}", _ms(s.p50_ms), _ms(s.p95_ms),
                     _ms(s.p99_ms), _ms(s.max_ms), f"{s.error_rate:.1%}", f"{s.fallback_rate:.1%}"]
                )  # fmt: skip
        headers = [
            "Phase",
            "Route",
            "Requests",
            "Req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "Max ms",
            "Errors",
            "Fallbacks",
        ]
        parts.append(_table(headers, rows))
    if result.load:
        parts.append("<h2>Load</h2>")
        values = [f"{v:.1f}" if isinstance(v, float) else str(v) for v in result.load.values()]
        parts.append(_table(list(result.load), [values]))
    if result.timeline:
        parts.append("<h2>Fault timeline</h2>")
        parts.append(
            _table(
                ["t (s)", "Action", "Fault", "Result"],
                [
                    [f"{e.t:.2f}", e.action, e.description, "ok" if e.ok else f"failed: {e.error}"]
                    for e in result.timeline
                ],
            )
        )
    env = result.environment
    if env:
        parts.append("<h2>Environment</h2>")
        parts.append(_table(["Item", "Value"], [[k, str(v)] for k, v in env.items()]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
