"""The commands that read scenarios without running them: plan, list, new."""

from __future__ import annotations

from pathlib import Path

from _chaos_helpers import DATA, ROOT
from click.testing import CliRunner

from harness.cli import cli
from harness.plan import StepKind, make_plan
from harness.scenario import load_scenario, parse_scenario


def test_plan_lays_faults_on_the_timeline() -> None:
    plan = make_plan(load_scenario(ROOT / "scenarios" / "connection-resets.yaml"))
    assert [(p.name, p.start, p.end) for p in plan.phases] == [
        ("baseline", 0, 3),
        ("some-resets", 3, 7),
        ("all-reset", 7, 9),
        ("recovery", 9, 15),
    ]
    applies = [(s.t, s.text) for s in plan.steps() if s.kind is StepKind.APPLY]
    removes = [(s.t, s.text) for s in plan.steps() if s.kind is StepKind.REMOVE]
    assert [t for t, _ in applies] == [3, 7] and [t for t, _ in removes] == [7, 9]
    assert "reset_peer(timeout=0) on proxy users" in applies[1][1]
    assert len([s for s in plan.steps() if s.kind is StepKind.GATES]) == 5


def test_plan_command_prints_the_timeline_and_touches_nothing() -> None:
    result = CliRunner().invoke(cli, ["plan", str(DATA / "long-fault.yaml"), "--var", "FAULT_S=7"])
    assert result.exit_code == 0, result.output
    assert "scenario long-fault: 2 phases, 7.5 s" in result.output
    assert "7.5 s  remove       proxy users down" in result.output


def test_gate_titles_are_unique() -> None:
    text = "version: 1\nname: t\nphases: [{name: a, duration: 1}]\ngates:\n"
    text += "  - {kind: error_rate, phase: a, max: 0}\n" * 2
    titles = [t for t, _ in make_plan(parse_scenario(text)).gates]
    assert titles == ["error rate of all routes in a <= 0.0%", "error rate of all routes in a <= 0.0% (2)"]


def test_list_shows_every_shipped_scenario() -> None:
    result = CliRunner().invoke(cli, ["list", str(ROOT / "scenarios")])
    assert result.exit_code == 0
    for name in ("upstream-latency", "upstream-down", "flapping-upstream", "slow-dlq"):
        assert name in result.output


def test_new_writes_a_valid_commented_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["new", "my-check", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path = tmp_path / "my-check.yaml"
    assert "# " in path.read_text() and load_scenario(path).name == "my-check"
    assert runner.invoke(cli, ["validate", str(path)]).exit_code == 0
    again = runner.invoke(cli, ["new", "my-check", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "--force" in again.output
    assert runner.invoke(cli, ["new", "bad name!", "--dir", str(tmp_path)]).exit_code == 2


def _stub_fault_text(behaviour: str) -> str:
    text = (
        "version: 1\nname: t\nphases:\n  - name: a\n    duration: 1\n"
        f"    faults: [{{stub: weather-service, behaviour: {behaviour}}}]\n"
    )
    [step] = [s for s in make_plan(parse_scenario(text)).steps() if s.kind is StepKind.APPLY]
    return step.text


def test_plan_names_the_status_a_stub_fault_answers_with() -> None:
    # Written out or left at its default (503), the status is shown whenever the stub fails requests.
    assert _stub_fault_text("{error_rate: 0.5, error_status: [502, 504]}") == (
        "stub weather-service: error_rate=0.5, error_status=[502, 504]"
    )
    assert _stub_fault_text("{error_rate: 1.0}") == "stub weather-service: error_rate=1.0, error_status=[503]"
    assert _stub_fault_text("{fail_first: 2, retry_after_s: 1}") == (
        "stub weather-service: error_status=[503], retry_after_s=1, fail_first=2"
    )
    schedule = "{schedule: [{duration_s: 1, fault: {error_rate: 1, error_status: [500]}}, {duration_s: 2}]}"
    assert _stub_fault_text(schedule) == (
        "stub weather-service: schedule=[{'duration_s': 1.0, 'fault': {'error_rate': 1.0, "
        "'error_status': [500]}}, {'duration_s': 2.0}]"
    )
    # A fault that fails nothing does not mention a status it never sends.
    assert _stub_fault_text("{drop_rate: 0.3}") == "stub weather-service: drop_rate=0.3"
    result = CliRunner().invoke(cli, ["plan", str(ROOT / "scenarios" / "slow-dlq.yaml")])
    assert result.exit_code == 0, result.output
    assert "apply        stub processing-service: error_rate=1.0, error_status=[503]" in result.output
