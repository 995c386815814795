"""End to end, as a user runs it: ``harness run`` in a child process against the real platform.

Exit codes, reports, and above all that faults never outlive a run: interrupted runs are checked
against a real ``toxiproxy-server`` that outlives them, through its own API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _chaos_helpers import CLI, DATA, ROOT, harness_env, run_cli

from harness.toxiproxy.client import ToxiproxyClient

pytestmark = pytest.mark.slow


def _result(reports: Path) -> dict:
    (run_dir,) = [p for p in reports.iterdir() if not p.name.startswith(".")]
    return json.loads((run_dir / "result.json").read_text())


def _harness_proxies(client: ToxiproxyClient) -> dict:
    return {name: proxy for name, proxy in client.proxies().items() if name.startswith("harness-")}


def test_shipped_scenario_passes_and_writes_every_report(tmp_path: Path) -> None:
    done = run_cli("run", "scenarios/upstream-down.yaml", "--reports", str(tmp_path), "--ci", "--seed", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED: upstream-down" in done.stdout
    result = _result(tmp_path)
    assert result["status"] == "passed" and result["seed"] == 5 and result["exit_code"] == 0
    assert [e["action"] for e in result["timeline"]] == ["apply", "remove"]
    assert result["environment"]["toxiproxy"]["kind"] in ("binary", "embedded", "docker")
    assert {p["name"] for p in result["phases"]} == {"baseline", "outage", "recovery"}
    outage = next(p for p in result["phases"] if p["name"] == "outage")
    assert outage["overall"]["fallback_rate"] > 0.5  # the fault really happened and was absorbed
    assert max(p["value"] for p in result["series"]["user-fallbacks"]) >= 1  # read from /metrics
    run_dir = next(p for p in tmp_path.iterdir() if not p.name.startswith("."))
    suite = ET.parse(run_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", 0)) == 2 + len(
        result["gates"]
    )  # steady state before + after
    assert "<svg" in (run_dir / "report.html").read_text()
    assert not list((tmp_path / ".state").glob("*.json"))  # state file removed at the end


def test_failing_gate_exits_1_with_the_verdict(tmp_path: Path) -> None:
    done = run_cli("run", str(DATA / "failing-gate.yaml"), "--reports", str(tmp_path), "--ci")
    assert done.returncode == 1, done.stdout + done.stderr
    result = _result(tmp_path)
    latency = next(g for g in result["gates"] if g["kind"] == "latency")
    assert not latency["passed"] and latency["observed"] >= 500  # 600 ms injected, gate at 100 ms
    assert next(g for g in result["gates"] if g["kind"] == "error_rate")["passed"]
    assert "FAILED: failing-gate" in done.stdout and "1 of 2 gates failed" in result["reason"]


def test_no_steady_state_fails_before_any_fault(tmp_path: Path) -> None:
    args = (
        "run",
        str(DATA / "no-steady-state.yaml"),
        "--reports",
        str(tmp_path),
        "--steady-timeout",
        "1",
    )
    summary = tmp_path.parent / f"{tmp_path.name}-step-summary.md"
    done = run_cli(*args, CI="true", GITHUB_STEP_SUMMARY=str(summary))  # CI: plain output, job summary
    assert done.returncode == 1
    result = _result(tmp_path)
    assert result["status"] == "failed" and result["reason"].startswith("steady state not established")
    assert result["timeline"] == [] and result["gates"] == []
    assert "missing: 404" in result["reason"]
    assert summary.read_text().startswith("## Chaos scenario `no-steady-state`: FAILED")
    assert "\x1b[" not in done.stdout  # no colour codes in CI logs
    assert "┏" not in done.stdout and "observed" not in done.stdout  # no empty gate table


def test_harness_failure_exits_4(tmp_path: Path) -> None:
    done = run_cli(
        "run",
        str(DATA / "failing-gate.yaml"),
        "--reports",
        str(tmp_path),
        "--ci",
        HARNESS_TOXIPROXY="url",
        TOXIPROXY_URL="http://127.0.0.1:9",
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert _result(tmp_path)["reason"].startswith("harness error: ")
    assert "Traceback" not in done.stdout + done.stderr


def _start_long_run(tmp_path: Path, toxiproxy_url: str, fault_s: int = 60) -> subprocess.Popen[str]:
    env = harness_env(TOXIPROXY_URL=toxiproxy_url, PYTHONUNBUFFERED="1")
    args = [*CLI, "run", str(DATA / "long-fault.yaml"), "--reports", str(tmp_path), "--ci"]
    return subprocess.Popen(
        [*args, "--var", f"FAULT_S={fault_s}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_faults(process: subprocess.Popen[str], client: ToxiproxyClient) -> list[str]:
    """Read output until both faults are applied, then check them on the server itself."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while sum("apply" in line for line in seen) < 2:
        assert time.monotonic() < deadline, "faults never applied:\n" + "".join(seen)
        line = process.stdout.readline()
        assert line, "run ended early:\n" + "".join(seen)
        seen.append(line)
    proxies = _harness_proxies(client)
    weather = next(p for n, p in proxies.items() if n.endswith("-weather"))
    users = next(p for n, p in proxies.items() if n.endswith("-users"))
    assert [t.type for t in weather.toxics()] == ["latency"] and not users.enabled
    return seen


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_removes_its_faults_and_exits_3(
    tmp_path: Path, toxiproxy_server: ToxiproxyClient, signum: signal.Signals
) -> None:
    process = _start_long_run(tmp_path, toxiproxy_server.url)
    try:
        _wait_for_faults(process, toxiproxy_server)
        process.send_signal(signum)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, out
    assert _harness_proxies(toxiproxy_server) == {}  # no proxy, hence no toxic, survived the run
    result = _result(tmp_path)
    assert result["status"] == "aborted" and signum.name in result["reason"]
    removed = [e for e in result["timeline"] if e["action"] == "remove"]
    assert len(removed) == 2 and all(e["ok"] for e in removed)


def test_a_killed_runs_leftovers_are_removed_by_the_next_run(
    tmp_path: Path, toxiproxy_server: ToxiproxyClient
) -> None:
    process = _start_long_run(tmp_path, toxiproxy_server.url)
    try:
        _wait_for_faults(process, toxiproxy_server)
        state_files = list((tmp_path / ".state").glob("*.json"))
        assert len(state_files) == 1
        gateway_pid = json.loads(state_files[0].read_text())["children"][-1]
        process.kill()  # SIGKILL: no chance to clean up
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    assert len(_harness_proxies(toxiproxy_server)) == 2  # the faults outlived the killed run
    assert os.path.exists(f"/proc/{gateway_pid}")  # and so did its gateway
    done = run_cli(
        "run",
        str(DATA / "long-fault.yaml"),
        "--var",
        "FAULT_S=1",
        "--reports",
        str(tmp_path),
        "--ci",
        TOXIPROXY_URL=toxiproxy_server.url,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cleanup: deleted leftover proxy" in done.stdout
    assert f"stopped orphaned process {gateway_pid}" in done.stdout
    assert _harness_proxies(toxiproxy_server) == {}
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{gateway_pid}") and "Z" not in _proc_state(gateway_pid):
        assert time.monotonic() < deadline, "the orphaned gateway is still running"
        time.sleep(0.1)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return "gone"


def test_abort_gate_stops_early_removing_faults_first(
    tmp_path: Path, toxiproxy_server: ToxiproxyClient
) -> None:
    done = run_cli(
        "run",
        str(DATA / "abort-gate.yaml"),
        "--reports",
        str(tmp_path),
        "--ci",
        TOXIPROXY_URL=toxiproxy_server.url,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    result = _result(tmp_path)
    assert result["status"] == "aborted"
    assert result["aborted_by"] == "users must not degrade"
    assert result["reason"].startswith("aborted early: gate 'users must not degrade' clearly breached")
    remove = next(e for e in result["timeline"] if e["action"] == "remove")
    assert remove["ok"] and remove["t"] < 1 + 30  # long before the outage phase's planned end
    outage = next(p for p in result["phases"] if p["name"] == "outage")
    assert outage["end"] < 31 and outage["overall"]["error_rate"] > 0.5
    assert "recovery" not in {p["name"] for p in result["phases"]}
    assert _harness_proxies(toxiproxy_server) == {}
