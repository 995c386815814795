"""pytest plugin (entry point ``pytest11: harness``): chaos fixtures and scenario files as tests.

Cheap and inert unless used: importing it starts nothing and imports neither Locust nor the harness's
runner; fixtures start things only when a test asks for them, and only scenario files are collected.

Fixtures (started on first use, stopped at the end of the session):

* ``toxiproxy``: a running Toxiproxy handle (``.url``, ``.kind``, ``.client``). Embedded by default;
  ``--chaos-toxiproxy=binary|docker|url`` or ``HARNESS_TOXIPROXY``/``TOXIPROXY_URL`` choose another.
* ``toxiproxy_proxy``: a factory ``make(name, upstream) -> Proxy``; proxies are deleted after the
  test. ``with proxy.toxic("latency", latency=300): ...`` and ``with proxy.down(): ...`` always undo.
* ``stub_platform``: the built-in stub upstreams (``.urls``, ``.control(name)``).
* ``system_under_test``: the gateway in its own process with every upstream behind a proxy.
* ``chaos``: ``system_under_test`` for one test; afterwards every toxic is removed, proxies are
  enabled, stubs reset and breakers reset, so tests do not leak faults into each other.

Scenario files: a ``.yaml``/``.yml`` file whose top level has ``version:`` and ``phases:`` keys is
collected when pytest is pointed at it (or at its folder), so ``pytest scenarios/`` is a chaos suite.
Each file yields one ``steady-state`` item and one item per gate; the scenario runs once, on the first
item, and each gate passes or fails with its verdict (also in ``--junitxml``). Items carry the
``chaos`` marker, so ``-m chaos`` / ``-m "not chaos"`` select them. ``--chaos-reports DIR`` keeps
every run's reports in ``DIR/<run-id>/``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.gates import Verdict
    from harness.result import RunResult
    from harness.scenario import Scenario
    from harness.toxiproxy.client import Proxy
    from harness.toxiproxy.discovery import ToxiproxyHandle
    from stubs.platform import Platform

_SCENARIO_KEYS = (re.compile(r"^version\s*:", re.M), re.compile(r"^phases\s*:", re.M))
_RESULTS = pytest.StashKey[list["RunResult"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "chaos harness")
    group.addoption(
        "--chaos-toxiproxy",
        choices=("embedded", "binary", "docker", "url"),
        default=None,
        help="Toxiproxy for fixtures and scenarios (default: embedded, unless HARNESS_TOXIPROXY or "
        "TOXIPROXY_URL is set).",
    )
    group.addoption(
        "--chaos-reports", default=None, help="Write each scenario run's reports to DIR/<run-id>/."
    )
    group.addoption("--chaos-seed", type=int, default=None, help="Seed for scenario runs.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a chaos test or scenario (faults injected; slower)")
    config.stash[_RESULTS] = []


def _prefer(config: pytest.Config) -> str | None:
    chosen: str | None = config.getoption("--chaos-toxiproxy")
    if chosen:
        return chosen
    if os.environ.get("HARNESS_TOXIPROXY") or os.environ.get("TOXIPROXY_URL"):
        return None  # discovery reads them
    return "embedded"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def toxiproxy(pytestconfig: pytest.Config) -> Iterator[ToxiproxyHandle]:
    """A running Toxiproxy for the session (embedded by default)."""
    from harness.toxiproxy.discovery import acquire_toxiproxy

    with acquire_toxiproxy(prefer=_prefer(pytestconfig)) as handle:
        yield handle


@pytest.fixture
def toxiproxy_proxy(toxiproxy: ToxiproxyHandle) -> Iterator[Callable[[str, str], Proxy]]:
    """``make(name, upstream)``: a proxy on a free loopback port, deleted after the test."""
    from harness.faults import proxy_name
    from harness.toxiproxy.client import ToxiproxyError

    made: list[Proxy] = []
    token = os.urandom(3).hex()

    def make(name: str, upstream: str) -> Proxy:
        proxy = toxiproxy.client.create_proxy(proxy_name(token, name), upstream)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        with contextlib.suppress(ToxiproxyError):
            proxy.delete()


@pytest.fixture(scope="session")
def stub_platform() -> Iterator[Platform]:
    """The built-in stub upstreams on free loopback ports."""
    from stubs.platform import Platform

    with Platform() as platform:
        yield platform


@dataclass
class SystemUnderTest:
    """The gateway at ``url``, each upstream behind ``proxies[service]``, the stubs in ``platform``."""

    url: str
    proxies: dict[str, Proxy]
    platform: Platform
    _clients: list[Any] = field(default_factory=list, repr=False)

    def control(self, service: str) -> Any:
        """The stub admin client of ``service`` (``set_behaviour``, ``behaviour(...)``, ``count``)."""
        return self.platform.control(service)

    def client(self, **kwargs: Any) -> Any:
        """An ``httpx.Client`` on the gateway (closed at the end of the session)."""
        import httpx

        client = httpx.Client(base_url=self.url, trust_env=False, **kwargs)
        self._clients.append(client)
        return client

    def restore(self) -> None:
        """No toxics, every proxy enabled, stubs healthy, breakers back to automatic and closed."""
        import httpx

        for proxy in self.proxies.values():
            for toxic in proxy.toxics():
                proxy.remove_toxic(toxic.name)
            proxy.refresh()
            if not proxy.enabled:
                proxy.enable()
        self.platform.reset()
        with httpx.Client(base_url=self.url, trust_env=False, timeout=5.0) as client:
            breakers = client.get("/resilience/breakers").json().get("breakers", {})
            for name in breakers:
                client.post(f"/resilience/breakers/{name}/reset")


@pytest.fixture(scope="session")
def system_under_test(
    toxiproxy: ToxiproxyHandle, stub_platform: Platform, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SystemUnderTest]:
    """The gateway (its own process) with every upstream routed through a Toxiproxy proxy."""
    from harness.faults import proxy_name
    from stubs.gateway.process import GatewayProcess
    from stubs.services import UPSTREAMS

    token = os.urandom(3).hex()
    proxies = {}
    for service, url in stub_platform.urls.items():
        if service in UPSTREAMS:
            upstream = url.split("://", 1)[1].rstrip("/")
            proxies[service] = toxiproxy.client.create_proxy(proxy_name(token, service), upstream)
    upstreams = {service: f"http://{proxy.listen}" for service, proxy in proxies.items()}
    log = tmp_path_factory.mktemp("gateway") / "gateway.log"
    sut: SystemUnderTest | None = None
    try:
        with GatewayProcess(upstreams=upstreams, log_path=log) as gateway:
            sut = SystemUnderTest(str(gateway.url), proxies, stub_platform)
            yield sut
    finally:
        for client in sut._clients if sut else []:
            client.close()
        for proxy in proxies.values():
            proxy.delete()


@pytest.fixture
def chaos(system_under_test: SystemUnderTest) -> Iterator[SystemUnderTest]:
    """The system under test for one test, restored to health afterwards whatever the test did."""
    yield system_under_test
    system_under_test.restore()


# --------------------------------------------------------------------------- scenario files


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    try:
        head = file_path.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return None
    if not all(pattern.search(head) for pattern in _SCENARIO_KEYS):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    """One scenario file: a steady-state item and one item per gate, sharing one run."""

    _result: RunResult | None = None
    scenario: Scenario | None = None

    def collect(self) -> Iterator[pytest.Item]:
        from harness.plan import make_plan
        from harness.scenario import ScenarioError, load_scenario

        try:
            self.scenario = load_scenario(self.path)
        except ScenarioError as exc:
            yield InvalidScenarioItem.from_parent(self, name="validate", problems=str(exc))
            return
        yield ScenarioItem.from_parent(self, name="steady-state", gate_index=None)
        for index, (title, _) in enumerate(make_plan(self.scenario).gates):
            yield ScenarioItem.from_parent(self, name=title, gate_index=index)

    def result(self) -> RunResult:
        """Run the scenario once (on the first item that asks) and keep its result."""
        if self._result is None:
            from harness.reports import write_reports
            from harness.runner import RunOptions, new_run_id, run_scenario

            assert self.scenario is not None
            config = self.config
            reports = config.getoption("--chaos-reports")
            root = Path(reports) if reports else None
            run_id = new_run_id(self.scenario.name)
            work_dir = root / run_id if root else None
            options = RunOptions(
                seed=config.getoption("--chaos-seed"),
                work_dir=work_dir,
                state_dir=(root or config.rootpath / "reports") / ".state",
                toxiproxy=_prefer(config),
                run_id=run_id,
            )
            self._result = run_scenario(self.scenario, file=str(self.path), options=options)
            if work_dir is not None:
                write_reports(self._result, work_dir)
            config.stash[_RESULTS].append(self._result)
        return self._result


class GateFailed(Exception):
    """A gate or the steady state failed; its text is the whole failure report."""


class InvalidScenarioItem(pytest.Item):
    def __init__(self, *, problems: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problems = problems

    def runtest(self) -> None:
        raise GateFailed(f"invalid scenario:\n{self.problems}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, GateFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.path.name}: validate"


class ScenarioItem(pytest.Item):
    """The steady-state hypothesis (``gate_index`` None) or one gate of a scenario."""

    def __init__(self, *, gate_index: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate_index = gate_index
        self.add_marker(pytest.mark.chaos)

    def runtest(self) -> None:
        from harness.result import Status

        parent = self.parent
        assert isinstance(parent, ScenarioFile)
        result = parent.result()
        self.user_properties += [("run_id", result.run_id), ("seed", result.seed)]
        if result.status is Status.ABORTED:
            pytest.exit(f"chaos scenario {result.scenario_name}: {result.reason}", returncode=3)
        if result.status is Status.ERROR:
            raise GateFailed(result.reason)
        if self.gate_index is None:
            failed = [c for c in result.steady_state if not c.ok]
            if failed:
                raise GateFailed("\n".join(f"steady state {c.when}: {c.probe}: {c.detail}" for c in failed))
            return
        if self.gate_index >= len(result.gates):
            pytest.skip(f"gate not evaluated: {result.reason}")
        verdict = result.gates[self.gate_index]
        self.user_properties += [("observed", verdict.observed), ("threshold", verdict.threshold)]
        if not verdict.passed:
            raise GateFailed(_verdict_text(verdict))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, GateFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.path.name}: {self.name}"


def _verdict_text(verdict: Verdict) -> str:
    observed = "nothing measured" if verdict.observed is None else f"{verdict.observed:.4g}"
    expected = f"expected {verdict.threshold}, observed {observed}"
    return f"gate failed: {verdict.title}\n  {expected}\n  {verdict.detail}"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(_RESULTS, [])
    if not results:
        return
    from harness.reports.markdown import status_line

    terminalreporter.section("chaos scenarios")
    for result in results:
        terminalreporter.write_line(status_line(result))
