"""Scenario files: every broken file gets one located, readable error and exit 2; variables; schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _chaos_helpers import DATA, ROOT
from click.testing import CliRunner

from harness.cli import cli
from harness.scenario import (
    LatencyGate,
    ScenarioError,
    StubFault,
    ToxicFault,
    find_scenarios,
    json_schema,
    load_scenario,
    parse_scenario,
    parse_vars,
)

BROKEN = sorted((DATA / "broken").glob("*.yaml"))


def _expectation(path: Path) -> tuple[str, str]:
    match = re.match(
        r"# expect: (\d+:\d+) (.*)", path.read_text().splitlines()[0] if path.read_text() else ""
    )
    assert match, f"{path.name} lacks its '# expect: LINE:COL text' header"
    return match.group(1), match.group(2)


def test_corpus_is_large() -> None:
    assert len(BROKEN) >= 15


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_file_gets_located_error_and_exit_2(path: Path) -> None:
    where, text = _expectation(path)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}:{where}: " in result.output
    assert text in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("path", BROKEN[:3], ids=[p.stem for p in BROKEN[:3]])
def test_run_and_plan_refuse_broken_files_with_exit_2(path: Path) -> None:
    for command in (["run", "--reports", "/nonexistent-never-written"], ["plan"]):
        result = CliRunner().invoke(cli, [*command, str(path)])
        assert result.exit_code == 2
        assert str(path) in result.output and "Traceback" not in result.output


def test_every_problem_is_reported_not_only_the_first() -> None:
    text = """
version: 1
name: many
phases:
  - {name: a, duration: 0}
gates:
  - {kind: latency, phase: a, max_ms: -1}
colour: red
"""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, file="many.yaml")
    keys = {p.key for p in caught.value.problems}
    assert keys == {"phases[0].duration", "gates[0].max_ms", "colour"}
    assert all(p.line is not None for p in caught.value.problems)


def test_shipped_scenarios_are_valid() -> None:
    files = find_scenarios([ROOT / "scenarios"])
    assert len(files) >= 6
    names = {load_scenario(f).name for f in files}
    assert {"upstream-latency", "upstream-down", "flapping-upstream", "bandwidth-squeeze"} <= names
    assert {"connection-resets", "slow-dlq"} <= names
    for f in files:  # short enough for CI: the whole suite in a few minutes
        assert load_scenario(f).duration <= 20


def test_variables_from_cli_beat_environment_and_plain_scalars_are_retyped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = """
version: 1
name: vars-${SUFFIX:-x}
proxies: {w: weather-service}
phases:
  - name: fault
    duration: ${DUR}
    faults:
      - toxic: latency
        proxy: w
        attributes:
          latency: ${LAT:-250}
"""
    monkeypatch.setenv("DUR", "4")
    monkeypatch.setenv("LAT", "999")
    scenario = parse_scenario(text, variables={"LAT": "300"})
    assert scenario.name == "vars-x"
    assert scenario.phases[0].duration == 4.0
    fault = scenario.phases[0].faults[0]
    assert isinstance(fault, ToxicFault) and fault.attributes == {"latency": 300}


def test_quoted_variable_stays_a_string_and_unquoted_flow_use_gets_a_hint() -> None:
    ok = 'version: 1\nname: "${N:-a1}"\nphases: [{name: a, duration: "${D:-2}"}]\n'
    assert parse_scenario(ok).phases[0].duration == 2.0
    with pytest.raises(ScenarioError, match=r"must be quoted"):
        parse_scenario("version: 1\nname: x\nphases: [{name: a, duration: ${D:-2}}]\n")


def test_parse_vars_rejects_bad_pairs() -> None:
    assert parse_vars(["A=1", "B_2=x=y"]) == {"A": "1", "B_2": "x=y"}
    for bad in ("novalue", "1A=x", "=x"):
        with pytest.raises(ValueError, match="NAME=value"):
            parse_vars([bad])


def test_bad_var_on_the_command_line_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["validate", "--var", "oops", str(ROOT / "scenarios")])
    assert result.exit_code == 2 and "NAME=value" in result.output


def test_models_hold_what_the_yaml_says() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "flapping-upstream.yaml")
    fault = scenario.phase("flapping").faults[0]
    assert isinstance(fault, StubFault) and fault.behaviour.loop and len(fault.behaviour.schedule) == 2
    gate = scenario.gates[1]
    assert isinstance(gate, LatencyGate) and gate.max_ms == 1500


def test_schema_describes_the_format_and_cli_prints_it() -> None:
    schema = json_schema()
    assert schema["title"] == "Harness chaos scenario"
    assert {"version", "name", "phases", "gates", "probes", "proxies", "load"} <= set(schema["properties"])
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["required"] == ["version", "name", "phases"]


def test_unreadable_file_is_a_located_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "no such file" in result.output
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    result = CliRunner().invoke(cli, ["validate", str(binary)])
    assert (
        result.exit_code == 2 and "cannot read the file" in result.output and "Traceback" not in result.output
    )
