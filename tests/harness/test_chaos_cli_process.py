"""The ``harness`` command as a process: its entry points, what it imports, what and how wide it prints."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from _chaos_helpers import ROOT, harness_env, run_cli
from click.testing import CliRunner

from harness.cli import cli

HEAVY = ("fastapi", "starlette", "uvicorn", "httpx", "locust")

# Runs the CLI in this process, then reports which heavy modules it had imported (on stderr, last line).
_IMPORTS_AFTER = f"""
import sys
from harness.cli import cli
try:
    cli(sys.argv[1:])
except SystemExit:
    pass
print("heavy:", sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)
"""


def _heavy_modules_after(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS_AFTER, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=harness_env(),
    )
    return done.stderr.splitlines()[-1]


@pytest.mark.parametrize("module", ["harness", "harness.cli"])
def test_python_dash_m_is_the_harness_command(module: str) -> None:
    run = [sys.executable, "-m", module]
    env = harness_env()
    shown = subprocess.run([*run, "--version"], capture_output=True, text=True, timeout=120, env=env)
    assert (shown.returncode, shown.stdout) == (0, f"harness, version {version('resilience-harness')}\n")
    scenario = ROOT / "scenarios" / "slow-dlq.yaml"
    checked = subprocess.run(
        [*run, "validate", str(scenario)], capture_output=True, text=True, timeout=120, env=env
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"ok  {scenario}: slow-dlq, 3 phases")
    broken = subprocess.run([*run, "no-such-command"], capture_output=True, text=True, timeout=120)
    assert broken.returncode == 2 and "No such command 'no-such-command'" in broken.stderr
    assert broken.stderr.startswith("Usage: harness [OPTIONS] COMMAND [ARGS]...")


def test_importing_the_cli_loads_no_web_stack_or_load_generator() -> None:
    code = f"import harness.cli, sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["validate", "scenarios"],
        ["plan", "scenarios/slow-dlq.yaml"],
        ["list", "scenarios"],
        ["toxiproxy", "--help"],
        ["stubs", "serve", "--help"],
    ],
    ids=" ".join,
)
def test_commands_that_start_nothing_load_no_web_stack(args: list[str]) -> None:
    assert _heavy_modules_after(*args) == "heavy: []"


def test_commands_that_need_the_web_stack_still_load_it() -> None:
    # The counter-check of the test above: the lazy imports do happen when a command needs them.
    assert _heavy_modules_after("toxiproxy", "reset", "--url", "http://127.0.0.1:1") == "heavy: ['httpx']"


def test_defaults_spelled_out_for_a_light_help_match_their_sources() -> None:
    from harness.commands import toxiproxy_client
    from harness.runner import DEFAULT_STATE_DIR
    from harness.toxiproxy.client import DEFAULT_URL
    from harness.toxiproxy.discovery import ENV_URL, ToxiproxyKind

    assert toxiproxy_client.DEFAULT_URL == DEFAULT_URL and toxiproxy_client.ENV_URL == ENV_URL
    assert tuple(kind.value for kind in ToxiproxyKind) == toxiproxy_client.KINDS
    shown = CliRunner().invoke(cli, ["cleanup", "--help"], terminal_width=200)
    assert f"[default: {DEFAULT_STATE_DIR}]" in shown.output


def _write_scenario(folder: Path) -> Path:
    path = folder / "a-scenario-file-whose-name-is-long-enough-to-need-more-than-eighty-columns.yaml"
    path.write_text("version: 1\nname: wide\ndescription: short\nphases: [{name: a, duration: 1}]\n")
    return path


def test_output_to_a_pipe_is_not_wrapped_at_80_columns(tmp_path: Path) -> None:
    path = _write_scenario(tmp_path)
    assert len(str(path)) > 80
    listed = run_cli("list", str(tmp_path))  # stdout is a pipe, COLUMNS unset
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if "wide" in line]
    assert str(path) in row and "short" in row  # the whole path, and the row, on one line


def test_output_to_a_pipe_follows_columns_when_set(tmp_path: Path) -> None:
    path = _write_scenario(tmp_path)
    listed = run_cli("list", str(tmp_path), COLUMNS="100")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "wide" in listed.stdout and str(path) not in listed.stdout  # folded into the 100 columns


_FREE_PORTS = [
    f"--port={name}=0"
    for name in ("user-service", "weather-service", "prediction-service", "processing-service")
] + ["--port=service-registry=0"]


def test_stubs_serve_without_the_gateway_does_not_mention_it() -> None:
    done = run_cli("stubs", "serve", "--no-gateway", *_FREE_PORTS, "--duration", "0.5", timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "stub control: <url>/_admin/behaviour, /_admin/requests" in lines
    assert lines[-1] == "stopped" and "weather-service" in done.stdout
    assert "gateway" not in done.stdout.lower()


@pytest.mark.slow
def test_stubs_serve_with_the_gateway_points_at_it() -> None:
    done = run_cli("stubs", "serve", "--port=gateway=0", *_FREE_PORTS, "--duration", "1", timeout=120)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # whatever the width, the words are there
    hint = "stub control: <url>/_admin/behaviour, /_admin/requests; gateway: <url>/resilience/breakers"
    assert hint in text
    assert "gateway log: " in text and "│ gateway " in done.stdout
