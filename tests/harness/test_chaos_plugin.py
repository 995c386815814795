"""The pytest plugin: scenario YAML files as items, fixtures with context-managed faults."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from _chaos_helpers import DATA

pytestmark = pytest.mark.slow


def test_importing_the_plugin_starts_nothing_and_does_not_import_locust() -> None:
    code = (
        "import sys, threading; import harness.pytest_plugin; "
        "assert 'locust' not in sys.modules and 'gevent' not in sys.modules; "
        "assert 'harness.runner' not in sys.modules; "
        "assert threading.active_count() == 1; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_scenario_yaml_is_collected_and_gates_become_items(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", quick=(DATA / "quick-pass.yaml").read_text())
    pytester.makefile(".yaml", failing=(DATA / "failing-gate.yaml").read_text())
    pytester.makefile(".yaml", unrelated="version: 3\nservices: {}\n")  # not a scenario: ignored
    args = ("-v", "-p", "no:cacheprovider", "--junitxml=junit.xml", "--chaos-reports=chaos-reports")
    result = pytester.runpytest_subprocess(*args, timeout=180)
    result.stdout.fnmatch_lines(
        [
            "*failing.yaml::p95 of forecast in fault <= 100 ms FAILED*",
            "*quick.yaml::steady-state PASSED*",
            "*quick.yaml::p50 of user in slow <= 1000 ms PASSED*",
            "*gate failed: p95 of forecast in fault <= 100 ms*",
            "*expected <= 100 ms, observed*",
            "*chaos scenarios*",
            "*FAILED: failing-gate*",
            "*PASSED: quick-pass*",
        ]
    )
    result.assert_outcomes(passed=5, failed=1)
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="p95 of forecast in fault &lt;= 100 ms"' in junit
    assert "unrelated" not in result.stdout.str()
    run_dirs = [p for p in (pytester.path / "chaos-reports").iterdir() if not p.name.startswith(".")]
    assert sorted(p.name.split("-", 1)[1].rsplit("-", 1)[0] for p in run_dirs) == [
        "failing-gate",
        "quick-pass",
    ]
    for run_dir in run_dirs:
        assert {"result.json", "junit.xml", "summary.md", "report.html"} <= {
            p.name for p in run_dir.iterdir()
        }


def test_invalid_scenario_fails_one_item_with_located_problems(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", broken="version: 1\nname: b\nphases:\n  - {name: a, duration: -1}\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*broken.yaml:4:25: phases[[]0[]].duration: Input should be greater than 0*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_chaos_marker_selects_scenarios(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", quick=(DATA / "quick-pass.yaml").read_text())
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "not chaos", timeout=60)
    result.assert_outcomes(passed=1, deselected=3)


def test_fixtures_inject_faults_and_restore_health(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_faults="""
import time
import httpx
import pytest

@pytest.mark.chaos
def test_latency_toxic_slows_users_then_is_gone(chaos):
    client = chaos.client(timeout=10)
    assert client.get("/users/1").status_code == 200
    with chaos.proxies["user-service"].toxic("latency", latency=400):
        started = time.perf_counter()
        response = client.get("/users/2")
        assert (time.perf_counter() - started) > 0.35 and response.status_code == 200
    assert chaos.proxies["user-service"].toxics() == []

def test_leaked_fault_is_restored_by_the_fixture(chaos):
    chaos.proxies["weather-service"].disable()
    chaos.control("user-service").set_behaviour(error_rate=1.0)

def test_next_test_sees_a_healthy_system(chaos):
    assert chaos.proxies["weather-service"].refresh().enabled
    assert chaos.client().get("/users/3").json()["degraded"] is False

def test_proxy_factory(toxiproxy_proxy, stub_platform):
    upstream = stub_platform.urls["user-service"].split("://")[1]
    proxy = toxiproxy_proxy("direct", upstream)
    with proxy.down():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{proxy.listen}/users/1", timeout=2)
    assert httpx.get(f"http://{proxy.listen}/users/1", timeout=5).status_code == 200
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", timeout=120)
    result.assert_outcomes(passed=4)


def test_system_under_test_fixture_is_usable_here(chaos) -> None:  # the plugin is active in this suite too
    with chaos.proxies["weather-service"].toxic("latency", latency=300):
        started = time.perf_counter()
        assert httpx.get(chaos.url + "/forecast/x", timeout=10).status_code == 200
        assert time.perf_counter() - started > 0.25
