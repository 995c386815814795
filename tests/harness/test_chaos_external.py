"""The runner as a library, against "your own services" (an external target), in this process."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from harness.events import Event, FaultChanged, PhaseStarted, RunFinished
from harness.result import Status
from harness.runner import RunOptions, run_scenario
from harness.scenario import parse_scenario
from stubs.platform import Platform

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def services() -> Iterator[Platform]:
    with Platform(services=["user-service"]) as platform:
        yield platform


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_external_target_through_a_fixed_proxy_measures_the_injected_latency(
    services: Platform, tmp_path
) -> None:
    user_url = services.urls["user-service"]
    listen = f"127.0.0.1:{_free_port()}"
    scenario = parse_scenario(
        f"""
version: 1
name: external
target:
  platform: external
  urls: {{gateway: "{user_url}"}}
proxies:
  users: {{upstream: "{user_url.split("://")[1]}", listen: "{listen}"}}
probes:
  direct:
    http: {{path: /users/1}}
    every: 0.1
  proxied:
    http: {{service: "proxy:users", path: /users/1}}
    every: 0.1
steady_state: [direct, proxied]
phases:
  - {{name: baseline, duration: 1}}
  - name: slow
    duration: 1.5
    faults:
      - {{toxic: latency, proxy: users, attributes: {{latency: 200}}}}
  - {{name: after, duration: 1}}
gates:
  - {{kind: latency, route: proxied, phase: slow, percentile: 50, max_ms: 150}}
  - {{kind: latency, route: direct, phase: slow, percentile: 50, max_ms: 150}}
"""
    )
    events: list[Event] = []
    result = run_scenario(
        scenario,
        options=RunOptions(listeners=(events.append,), state_dir=tmp_path, toxiproxy="embedded", seed=3),
    )
    assert result.status is Status.FAILED, result.reason
    proxied, direct = result.gates
    assert not proxied.passed and proxied.observed is not None and proxied.observed >= 190  # 200 ms injected
    assert direct.passed  # the same service, not behind the proxy, is untouched
    assert result.environment["toxiproxy"]["kind"] == "embedded"
    assert [type(e).__name__ for e in events if isinstance(e, PhaseStarted | RunFinished)] == [
        "PhaseStarted",
        "PhaseStarted",
        "PhaseStarted",
        "RunFinished",
    ]
    assert [e.entry.action for e in events if isinstance(e, FaultChanged)] == ["apply", "remove"]


def test_a_broken_listener_never_stops_a_run(services: Platform, tmp_path) -> None:
    scenario = parse_scenario(
        f"""
version: 1
name: listener
target: {{platform: external, urls: {{gateway: "{services.urls["user-service"]}"}}}}
probes: {{u: {{http: {{path: /users/1}}}}}}
phases: [{{name: a, duration: 0.5}}]
gates: [{{kind: error_rate, phase: a, max: 0}}]
"""
    )

    def broken(event: Event) -> None:
        raise RuntimeError("display crashed")

    result = run_scenario(scenario, options=RunOptions(listeners=(broken,), state_dir=tmp_path))
    assert result.status is Status.PASSED and result.environment["toxiproxy"] is None
