"""Reports are pure functions of the result document: rebuilt from a stored result.json alone."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.gates import Measurements, PhaseWindow, SeriesPoint, Verdict
from harness.measure import Sample
from harness.reports import FILES, RENDERERS, write_reports
from harness.reports.html import fault_windows
from harness.result import (
    ExitCode,
    JournalEntry,
    ProbeCheck,
    RunResult,
    Status,
    decide_status,
    load_result,
    summarize_phases,
)


def make_result(status: Status = Status.FAILED) -> RunResult:
    phases = (PhaseWindow("baseline", 0, 2), PhaseWindow("fault", 2, 4), PhaseWindow("recovery", 4, 6))
    samples = tuple(
        Sample(
            t / 10, "forecast", 300.0 if 20 <= t < 40 else 12.0, ok=t != 25, status=200, fallback=30 <= t < 40
        )
        for t in range(60)
    )
    series = {"breaker": tuple(SeriesPoint(t / 2, "open" if 6 <= t < 9 else "closed") for t in range(12))}
    m = Measurements(samples, series, phases)
    gates = (
        Verdict("p95 <= 100 ms", "latency", False, 300.0, "<= 100 ms", "p95 = 300.0 ms over 20 samples"),
        Verdict("breaker opened", "breaker", True, 3.0, "reached open", "3 of 4 readings open"),
    )
    timeline = (
        JournalEntry(2.0, "apply", "fault#0", "fault", "latency(latency=300) on proxy weather"),
        JournalEntry(4.0, "remove", "fault#0", "fault", "latency(latency=300) on proxy weather"),
    )
    return RunResult(
        run_id="20260101T000000Z-demo-abcdef",
        scenario_name="demo <&>",
        scenario_file="scenarios/demo.yaml",
        scenario={"version": 1, "name": "demo"},
        seed=7,
        versions={"harness": "0.1.0", "python": "3.11"},
        started_at="2026-01-01T00:00:00+00:00",
        duration_s=6.5,
        status=status,
        reason="1 of 2 gates failed: p95 <= 100 ms",
        environment={"toxiproxy": {"kind": "embedded", "reason": "test"}},
        timeline=timeline,
        steady_state=(ProbeCheck("before", "forecast", True, "200 in 12 ms"),),
        measurements=m,
        gates=gates,
        phases=summarize_phases(m),
    )


def test_result_round_trips_through_json(tmp_path: Path) -> None:
    result = make_result()
    path = tmp_path / "result.json"
    path.write_text(RENDERERS["json"](result))
    again = load_result(path)
    assert again.to_dict() == result.to_dict()
    assert again.exit_code is ExitCode.FAILED
    assert again.phases[1].overall.p95_ms == pytest.approx(300.0)


def test_status_is_decided_once_from_its_parts() -> None:
    ok = ProbeCheck("before", "p", True, "")
    bad = ProbeCheck("after", "p", False, "")
    passed = Verdict("g", "latency", True, 1.0, "", "")
    failed = Verdict("g", "latency", False, 1.0, "", "")
    assert decide_status(error=None, interrupted=False, steady_state=(ok,), gates=(passed,)) is Status.PASSED
    assert decide_status(error=None, interrupted=False, steady_state=(bad,), gates=(passed,)) is Status.FAILED
    assert decide_status(error=None, interrupted=False, steady_state=(ok,), gates=(failed,)) is Status.FAILED
    assert decide_status(error=None, interrupted=True, steady_state=(ok,), gates=(failed,)) is Status.ABORTED
    assert decide_status(error="x", interrupted=True, steady_state=(), gates=()) is Status.ERROR
    assert [s.exit_code for s in Status] == [0, 1, 3, 4]


def test_junit_has_one_testcase_per_gate_and_steady_state_check() -> None:
    root = ET.fromstring(RENDERERS["junit"](make_result()))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"steady state before: forecast", "p95 <= 100 ms", "breaker opened"}
    failure = cases["p95 <= 100 ms"].find("failure")
    assert failure is not None and "observed 300" in (failure.get("message") or "")
    assert cases["breaker opened"].find("failure") is None


def test_junit_reports_an_aborted_run_as_an_error() -> None:
    root = ET.fromstring(RENDERERS["junit"](make_result(Status.ABORTED)))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("errors") == "1"


def test_markdown_summary_tables() -> None:
    text = RENDERERS["md"](make_result())
    assert text.startswith("## Chaos scenario `demo <&>`: FAILED")
    assert "| **FAIL** | p95 <= 100 ms | <= 100 ms | 300 |" in text
    assert "| fault | all | 20 |" in text
    assert "| 2.00 | apply | latency(latency=300) on proxy weather | ok |" in text


def test_html_is_self_contained_with_charts_and_fault_windows() -> None:
    html = RENDERERS["html"](make_result())
    assert "<script" not in html and not re.search(r"""(src|href)=["']?https?:""", html)
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 3  # latency, error/fallback rate, breaker state
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
        assert 'class="fault"' in svg  # the fault window is drawn on every chart
    assert "demo &lt;&amp;&gt;" in html and "demo <&>" not in html
    assert fault_windows(make_result()) == [(2.0, 4.0, "latency(latency=300) on proxy weather")]


def test_unremoved_fault_window_lasts_to_the_end() -> None:
    result = make_result()
    only_applied = RunResult(**{**vars(result), "timeline": result.timeline[:1]})
    assert fault_windows(only_applied) == [(2.0, 6.0, "latency(latency=300) on proxy weather")]


def test_write_reports_and_rebuild_each_with_the_cli(tmp_path: Path) -> None:
    written = write_reports(make_result(), tmp_path / "run")
    assert {p.name for p in written.values()} == set(FILES.values())
    stored = written["json"]
    for fmt in ("html", "md", "junit", "json"):
        result = CliRunner().invoke(cli, ["report", str(stored), "--format", fmt])
        assert result.exit_code == 0, result.output
        assert result.output == written[fmt].read_text()
    out = tmp_path / "again.html"
    assert CliRunner().invoke(cli, ["report", str(stored), "-f", "html", "-o", str(out)]).exit_code == 0
    assert out.read_text() == written["html"].read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"format": "other"}), "not a harness result"),
        (None, "cannot read"),
    ],
)
def test_report_on_a_bad_file_is_a_usage_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "result.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(cli, ["report", str(path), "--format", "md"])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
