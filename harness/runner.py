"""The runner: executes a plan on the clock and returns the result document.

::

    result = run_scenario(load_scenario("scenarios/upstream-latency.yaml"))
    assert result.status is Status.PASSED

Stages: clean leftovers of killed runs; start what the target needs (stubs, DLQ, Toxiproxy with the
scenario's proxies, the gateway with its upstreams pointed at the proxies); check the steady state
(a run that cannot establish it fails); run the phases (faults applied at a phase's start and removed
at its end, probes sampled on their own threads, optional Locust load); check the steady state again;
evaluate the gates; stop everything.

Fault removal is unconditional: it runs in a ``finally`` whatever happened (gate failure, exception,
Ctrl-C, SIGTERM, an ``abort`` gate), with further signals deferred until it is done. SIGTERM and
SIGINT become :class:`Interrupted` while a run is in progress (main thread only).
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness.defaults import DEFAULT_STATE_DIR
from harness.events import (
    Broadcaster,
    EnvironmentReady,
    FaultChanged,
    GateBreached,
    Listener,
    PhaseStarted,
    RunFinished,
    RunStarted,
    SteadyStateChecked,
    Tick,
)
from harness.faults import FaultInjector, RunState, clean_leftovers, proxy_name, remove_state, write_state
from harness.gates import Measurements, PhaseWindow, Verdict, clearly_breached, evaluate_all
from harness.measure import Sample, summarize
from harness.plan import Plan, make_plan
from harness.probes import Sampler, probe_once
from harness.result import JournalEntry, ProbeCheck, RunResult, Status, decide_status, summarize_phases
from harness.scenario import Platform, Scenario
from harness.toxiproxy.client import Proxy, ProxyNotFound, ToxiproxyError

__all__ = ["DEFAULT_STATE_DIR", "Interrupted", "RunOptions", "new_run_id", "run_scenario"]

_TICK_S = 1.0
_ABORT_CHECK_S = 0.5
_LOAD_WARMUP_S = 20.0  # longest wait for Locust's first sample and its users to spawn before t0


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived during a run (a BaseException, so broad ``except Exception`` misses it)."""


class _GateAbort(Exception):
    def __init__(self, title: str, detail: str) -> None:
        super().__init__(f"gate {title!r} clearly breached: {detail}")
        self.title = title


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what): the scenario file says what.

    ``seed``: overrides the scenario's (a random one when both are unset; always recorded).
    ``work_dir``: gateway and DLQ logs, the DLQ database, Locust files; a temporary folder when None.
    ``state_dir``: where a running run records what a later run must undo if it is killed.
    ``toxiproxy``: force a kind (url, binary, docker, embedded); discovery's order otherwise.
    ``handle_signals``: turn SIGINT/SIGTERM into :class:`Interrupted` (main thread only).
    ``steady_state_timeout``: seconds the steady state may take to hold before the faults.
    """

    seed: int | None = None
    work_dir: Path | None = None
    state_dir: Path | None = DEFAULT_STATE_DIR
    toxiproxy: str | None = None
    listeners: tuple[Listener, ...] = ()
    handle_signals: bool = True
    steady_state_timeout: float = 10.0
    run_id: str | None = None


def new_run_id(scenario: str) -> str:
    """``<UTC time>-<scenario>-<6 hex>``: sortable, and unique enough for a reports folder."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{scenario}-{secrets.token_hex(3)}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hostport(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


class _DlqProcess:
    """``python -m resilience.dlq`` on a free port with a SQLite database in ``work_dir``."""

    def __init__(self, work_dir: Path, timeout: float) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = work_dir / "dlq.log"
        self._timeout = timeout
        env = {k: v for k, v in os.environ.items() if not k.startswith("DLQ_")}
        env["DLQ_DATABASE_URL"] = f"sqlite:///{work_dir / 'dlq.sqlite'}"
        self._env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> _DlqProcess:
        args = [sys.executable, "-m", "resilience.dlq", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*args, "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, env=self._env
            )
        deadline = time.monotonic() + self._timeout
        with httpx.Client(trust_env=False, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + "/health").status_code == 200:
                        return self
                time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace").splitlines()[-10:]
        self.stop()
        raise RuntimeError("the DLQ service did not start; its log ends:\n" + "\n".join(tail))

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class _Env:
    """What a run started, filled by ``_setup``."""

    services: dict[str, str] = field(default_factory=dict)
    proxies: dict[str, Proxy] = field(default_factory=dict)
    stubs: dict[str, Any] = field(default_factory=dict)
    toxiproxy: dict[str, str] = field(default_factory=dict)
    cleaned: list[str] = field(default_factory=list)
    state: RunState | None = None


class _Run:
    """One execution; shared inputs live here instead of travelling through every helper."""

    def __init__(self, scenario: Scenario, file: str | None, options: RunOptions) -> None:
        self.scenario = scenario
        self.file = file
        self.options = options
        self.plan: Plan = make_plan(scenario)
        self.seed = options.seed if options.seed is not None else scenario.seed
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(2**31)
        self.token = secrets.token_hex(3)
        self.run_id = options.run_id or new_run_id(scenario.name)
        self.events = Broadcaster(options.listeners)
        self.env = _Env()
        self.t0 = time.monotonic()
        self.journal: list[JournalEntry] = []
        self.injector: FaultInjector | None = None
        self.samplers: list[Sampler] = []
        self.load: Any = None
        self.load_outcome: dict[str, Any] | None = None
        self.windows: list[PhaseWindow] = []
        self.checks: list[ProbeCheck] = []
        self.cleaning = False
        self.late_signal: str | None = None
        self.current_phase = ""

    # -- time and signals

    def now(self) -> float:
        return time.monotonic() - self.t0

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        if not self.options.handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            if self.cleaning:  # never interrupt fault removal; remember it for the status
                self.late_signal = name
                return
            raise Interrupted(name)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # -- stages

    def setup(self, stack: contextlib.ExitStack) -> None:
        opts, target = self.options, self.scenario.target
        work_dir = opts.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="harness-")))
        work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir = work_dir
        self.env.cleaned += clean_leftovers(opts.state_dir, None)
        builtin = target.platform is Platform.BUILTIN
        services = self.env.services
        state = RunState(token=self.token, pid=os.getpid())
        self.env.state = state
        if builtin:
            from stubs.platform import Platform as StubPlatform

            stub_platform = StubPlatform(services=target.services)
            stack.callback(stub_platform.stop)
            stub_platform.start()
            services.update(stub_platform.urls)
            self.env.stubs = {name: stub_platform.control(name) for name in stub_platform.servers}
            state.stubs = dict(stub_platform.urls)
            if target.dlq:
                dlq = _DlqProcess(work_dir, target.ready_timeout)
                stack.callback(dlq.stop)
                dlq.start()
                services["dlq"] = dlq.url
                state.children.append(dlq.process.pid if dlq.process else 0)
        else:
            services.update(target.urls)
        if self.scenario.proxies:
            self._start_proxies(stack, state)
        if opts.state_dir is not None:
            write_state(opts.state_dir, state)
            stack.callback(remove_state, opts.state_dir, self.token)
        if builtin and target.gateway:
            self._start_gateway(stack, state)
        self.events.emit(
            EnvironmentReady(
                f"{self.env.toxiproxy['kind']}: {self.env.toxiproxy['reason']}"
                if self.env.toxiproxy
                else None,
                dict(services),
                tuple(self.env.cleaned),
            )
        )

    def _start_proxies(self, stack: contextlib.ExitStack, state: RunState) -> None:
        from harness.toxiproxy.discovery import acquire_toxiproxy

        handle = stack.enter_context(acquire_toxiproxy(prefer=self.options.toxiproxy))
        self.env.toxiproxy = {
            "kind": handle.kind.value,
            "url": handle.url,
            "reason": handle.reason,
            "version": handle.client.version(),
        }
        state.toxiproxy_url, state.toxiproxy_kind = handle.url, handle.kind.value
        self.env.cleaned += clean_leftovers(None, handle.client)
        builtin = self.scenario.target.platform is Platform.BUILTIN
        for name, spec in self.scenario.proxies.items():
            upstream = _hostport(self.env.services[spec.upstream]) if builtin else spec.upstream
            full_name = proxy_name(self.token, name)
            state.proxies.append(full_name)
            proxy = handle.client.create_proxy(full_name, upstream, listen=spec.listen)
            stack.callback(_delete_quietly, proxy)
            self.env.proxies[name] = proxy
            self.env.services[f"proxy:{name}"] = f"http://{proxy.listen}"

    def _start_gateway(self, stack: contextlib.ExitStack, state: RunState) -> None:
        from stubs.gateway.process import GatewayProcess
        from stubs.services import UPSTREAMS

        services = self.env.services
        upstreams = {name: url for name, url in services.items() if name in UPSTREAMS}
        dlq_url = services.get("dlq")
        for name, spec in self.scenario.proxies.items():
            through = f"http://{self.env.proxies[name].listen}"
            if spec.upstream in UPSTREAMS:
                upstreams[spec.upstream] = through
            elif spec.upstream == "dlq":
                dlq_url = through
        gateway = GatewayProcess(
            upstreams=upstreams,
            dlq_url=dlq_url,
            log_path=self.work_dir / "gateway.log",
            start_timeout=self.scenario.target.ready_timeout,
        )
        gateway.args += self.scenario.target.gateway_args
        stack.callback(gateway.stop)
        gateway.start()
        services["gateway"] = str(gateway.url)
        if gateway.pid is not None:
            state.children.append(gateway.pid)
            if self.options.state_dir is not None:
                write_state(self.options.state_dir, state)

    def steady_state(self, when: str) -> bool:
        """Check every steady-state probe; before the faults each may take until the timeout to hold."""
        names = self.scenario.steady_state
        deadline = time.monotonic() + (self.options.steady_state_timeout if when == "before" else 0.0)
        results: dict[str, ProbeCheck] = {}
        with httpx.Client(trust_env=False) as client:
            pending = list(names)
            while pending:
                for name in pending:
                    reading = probe_once(
                        name, self.scenario.probes[name], self.env.services, client, self.now()
                    )
                    results[name] = ProbeCheck(when, name, reading.ok, reading.detail)
                pending = [n for n in pending if not results[n].ok]
                if not pending or time.monotonic() >= deadline:
                    break
                time.sleep(0.25)
        checks = tuple(results[n] for n in names)
        self.checks += checks
        self.events.emit(SteadyStateChecked(when, checks))
        return all(c.ok for c in checks)

    def start_measuring(self, stack: contextlib.ExitStack) -> None:
        if self.scenario.load is not None:
            self._start_load(stack)
        self.t0 = time.monotonic()
        self.samplers = [
            Sampler(n, p, self.env.services, self.t0).start() for n, p in self.scenario.probes.items()
        ]
        self.events.emit(RunStarted(self.run_id, self.scenario.name, self.plan.duration, int(self.seed or 0)))

    def _start_load(self, stack: contextlib.ExitStack) -> None:
        from harness.load.runner import LoadRun

        spec = self.scenario.load
        assert spec is not None
        host = spec.host or self.env.services.get("gateway")
        if host is None:
            raise RuntimeError("load: needs load.host when the target starts no gateway")
        duration = (spec.duration or self.plan.duration) + _LOAD_WARMUP_S
        self.load = LoadRun(spec, host, self.work_dir / "load", duration=duration)
        stack.callback(self._stop_load)
        self.load.start()
        deadline = time.monotonic() + _LOAD_WARMUP_S
        while not self.load.samples() and time.monotonic() < deadline:
            time.sleep(0.1)
        # Let every user spawn and the first connections settle, so the baseline is not a cold start.
        time.sleep(min(spec.users / spec.spawn_rate + 1.0, max(0.0, deadline - time.monotonic())))

    def _stop_load(self) -> None:
        if self.load is not None and self.load_outcome is None:
            self.load_outcome = self.load.stop().to_dict()

    def run_phases(self) -> None:
        injector = self.injector
        assert injector is not None
        for index, phase in enumerate(self.plan.phases):
            self.current_phase = phase.name
            start = self.now()
            self.events.emit(PhaseStarted(phase.name, index, len(self.plan.phases), start, phase.end))
            try:
                for fault in phase.faults:
                    injector.apply(fault)
                self._wait_until(phase.end, phase.name, start)
            finally:
                self.windows.append(PhaseWindow(phase.name, start, self.now()))
                for fault in phase.faults:
                    injector.remove(fault)

    def _wait_until(self, end: float, phase: str, start: float) -> None:
        abort_gates = [(t, g) for t, g in self.plan.gates if g.abort and getattr(g, "phase", None) == phase]
        next_tick = self.now() + _TICK_S
        next_check = self.now() + _ABORT_CHECK_S
        while (remaining := end - self.now()) > 0:
            time.sleep(min(0.05, remaining))
            now = self.now()
            if now >= next_tick:
                next_tick += _TICK_S
                self._tick(now, phase)
            if abort_gates and now >= next_check:
                next_check += _ABORT_CHECK_S
                m = self.measurements(current=PhaseWindow(phase, start, now))
                for title, gate in abort_gates:
                    outcome = clearly_breached(gate, m)
                    if outcome is not None:
                        raise _GateAbort(title, outcome.detail)

    def _tick(self, now: float, phase: str) -> None:
        recent = [s for s in self.samples() if s.t >= now - _TICK_S]
        values = {
            s.name: (pts[-1].value if (pts := s.points()) else None)
            for s in self.samplers
            if s.probe.kind != "http"
        }
        self.events.emit(Tick(now, phase, summarize(recent, _TICK_S) if recent else None, values))

    def samples(self) -> list[Sample]:
        samples = [s for sampler in self.samplers for s in sampler.samples()]
        if self.load is not None:
            samples += [
                Sample(s.t - self.t0, s.route, s.latency_ms, s.ok, s.status, s.fallback, s.source)
                for s in self.load.samples()
                if s.t >= self.t0
            ]
        return sorted(samples, key=lambda s: s.t)

    def measurements(self, current: PhaseWindow | None = None) -> Measurements:
        series = {s.name: tuple(s.points()) for s in self.samplers if s.probe.kind != "http"}
        phases = (*self.windows, current) if current else tuple(self.windows)
        return Measurements(tuple(self.samples()), series, phases)

    def stop_measuring(self) -> None:
        for sampler in self.samplers:
            sampler.stop()
        self._stop_load()

    # -- the whole run

    def execute(self) -> RunResult:
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        wall_start = time.monotonic()
        error: str | None = None
        interrupted: str | None = None
        aborted_by: str | None = None
        failure: str | None = None
        verdicts: tuple[Verdict, ...] = ()
        evaluate = False
        with self.signals():
            try:
                with contextlib.ExitStack() as stack:
                    try:
                        self.setup(stack)
                        self.injector = FaultInjector(
                            self.env.proxies,
                            self.env.stubs,
                            seed=int(self.seed or 0),
                            now=self.now,
                            on_entry=self._journal,
                        )
                        if not self.steady_state("before"):
                            failure = (
                                "steady state not established before the faults: "
                                + self._failed_checks("before")
                            )
                        else:
                            self.start_measuring(stack)
                            try:
                                self.run_phases()
                            except _GateAbort as abort:
                                self._remove_faults()  # first, before anything else happens
                                self.events.emit(GateBreached(abort.title, str(abort)))
                                aborted_by = abort.title
                                failure = f"aborted early: {abort}; faults removed"
                            evaluate = True
                            self.stop_measuring()
                            if aborted_by is None and not self.steady_state("after"):
                                failure = "steady state did not hold after recovery: " + self._failed_checks(
                                    "after"
                                )
                    except Interrupted as signal_name:
                        interrupted = str(signal_name)
                    except Exception as exc:
                        error = f"{type(exc).__name__}: {exc}"
                    finally:
                        self.cleaning = True
                        self._remove_faults()
                        self.stop_measuring()
            except Interrupted as signal_name:  # arrived while the stack was closing: it still closed
                interrupted = interrupted or str(signal_name)
            except Exception as exc:
                error = error or f"stopping the environment failed: {type(exc).__name__}: {exc}"
        interrupted = interrupted or self.late_signal
        measurements = self.measurements()
        if evaluate and interrupted is None and error is None:
            verdicts = tuple(evaluate_all(self.plan.gates, measurements))
        not_removed = [e for e in self.journal if e.action == "remove" and not e.ok]
        if not_removed and error is None:
            error = f"{len(not_removed)} fault(s) could not be removed: " + "; ".join(
                f"{e.description} ({e.error})" for e in not_removed
            )
        status = decide_status(
            error=error,
            interrupted=interrupted is not None or aborted_by is not None,
            steady_state=tuple(self.checks),
            gates=verdicts,
        )
        reason = self._reason(status, error, interrupted, failure, verdicts)
        result = RunResult(
            run_id=self.run_id,
            scenario_name=self.scenario.name,
            scenario_file=self.file,
            scenario=self.scenario.model_dump(mode="json", by_alias=True),
            seed=int(self.seed or 0),
            versions=self._versions(),
            started_at=started_at,
            duration_s=time.monotonic() - wall_start,
            status=status,
            reason=reason,
            environment={
                "toxiproxy": self.env.toxiproxy or None,
                "services": {k: v for k, v in self.env.services.items()},
                "cleaned_leftovers": self.env.cleaned,
            },
            timeline=tuple(self.journal),
            steady_state=tuple(self.checks),
            measurements=measurements,
            gates=verdicts,
            load=self.load_outcome,
            aborted_by=aborted_by,
            phases=summarize_phases(measurements),
        )
        self.events.emit(RunFinished(result, verdicts))
        return result

    def _journal(self, entry: JournalEntry) -> None:
        self.journal.append(entry)
        self.events.emit(FaultChanged(entry))

    def _remove_faults(self) -> None:
        if self.injector is not None:
            self.injector.remove_all()

    def _failed_checks(self, when: str) -> str:
        return "; ".join(f"{c.probe}: {c.detail}" for c in self.checks if c.when == when and not c.ok)

    def _reason(
        self,
        status: Status,
        error: str | None,
        interrupted: str | None,
        failure: str | None,
        verdicts: tuple[Verdict, ...],
    ) -> str:
        if status is Status.ERROR:
            return f"harness error: {error}"
        if status is Status.ABORTED and interrupted is None:
            return failure or "aborted early by a gate; faults removed"
        if status is Status.ABORTED:
            where = f" during phase {self.current_phase}" if self.current_phase else ""
            return f"interrupted by {interrupted}{where}; faults removed"
        failed = [v.title for v in verdicts if not v.passed]
        if status is Status.FAILED:
            parts = [failure] if failure else []
            if failed:
                parts.append(f"{len(failed)} of {len(verdicts)} gates failed: {', '.join(failed)}")
            return "; ".join(parts)
        return f"all {len(verdicts)} gates passed and the steady state held"

    def _versions(self) -> dict[str, str]:
        versions = {
            "harness": version("resilience-harness"),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
        }
        if self.env.toxiproxy:
            versions["toxiproxy"] = f"{self.env.toxiproxy['version']} ({self.env.toxiproxy['kind']})"
        return versions


def _delete_quietly(proxy: Proxy) -> None:
    with contextlib.suppress(ProxyNotFound, ToxiproxyError):
        proxy.delete()


def run_scenario(
    scenario: Scenario, *, file: str | None = None, options: RunOptions | None = None
) -> RunResult:
    """Run one scenario to its result. Never raises for what the system or the environment does:
    failures, interruptions and harness errors are the result's status."""
    return _Run(scenario, file, options or RunOptions()).execute()
