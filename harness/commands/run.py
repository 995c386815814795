"""``harness run PATH...``: run scenarios, show progress, write reports, exit with the verdict.

Exit codes: 0 all gates passed; 1 a gate or the steady state failed; 2 invalid input or usage;
3 aborted (Ctrl-C, SIGTERM or an abort gate; faults removed); 4 the harness itself failed. With several
scenarios the worst code wins (4 > 3 > 1 > 0) and Ctrl-C or SIGTERM stops the remaining ones.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from harness.commands._console import make_console
from harness.events import (
    EnvironmentReady,
    Event,
    FaultChanged,
    GateBreached,
    PhaseStarted,
    RunStarted,
    SteadyStateChecked,
    Tick,
)
from harness.result import ExitCode, RunResult, Status
from harness.scenario import Scenario, ScenarioError, find_scenarios, load_scenario, parse_vars
from harness.toxiproxy.defaults import ToxiproxyKind

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status as Spinner
    from rich.table import Table

# harness.runner (httpx, the stubs), harness.reports and rich are imported where they are used, so
# that ``harness --help`` and ``harness validate`` do not load them.

__all__ = ["Progress", "load_all", "register", "report_problems", "results_table"]

_WORST = (ExitCode.HARNESS_ERROR, ExitCode.ABORTED, ExitCode.FAILED, ExitCode.PASSED)


class Progress:
    """Renders runner events: coloured with a live status line, or plain lines for CI logs."""

    def __init__(self, console: Console, *, plain: bool) -> None:
        self.console = console
        self.plain = plain
        self._spinner: Spinner | None = None
        self._name = ""

    def __call__(self, event: Event) -> None:
        from rich.markup import escape

        match event:
            case EnvironmentReady():
                for line in event.cleaned:
                    self._say(f"cleanup: {line}")
                if event.toxiproxy:
                    self._say(f"toxiproxy {event.toxiproxy}")
            case SteadyStateChecked():
                for c in event.checks:
                    mark = "[green]holds[/]" if c.ok else "[red]does not hold[/]"
                    self._say(f"steady state {c.when}: {c.probe} {mark} ({escape(c.detail)})")
            case RunStarted():
                self._name = event.scenario
                if not self.plain:
                    self._spinner = self.console.status(f"{event.scenario}: starting")
                    self._spinner.start()
            case PhaseStarted():
                self._say(
                    f"[bold]phase {event.name}[/] ({event.index + 1}/{event.total}, until {event.end:.1f} s)"
                )
            case FaultChanged():
                e = event.entry
                outcome = "" if e.ok else f" [red]FAILED: {escape(e.error or '')}[/]"
                self._say(f"  {e.t:6.2f} s {e.action:<6} {escape(e.description)}{outcome}")
            case GateBreached():
                self._say(f"[red]abort[/]: {escape(event.detail)}")
            case Tick() if self._spinner is not None:
                parts = [f"{self._name} {event.phase} t={event.t:.0f}s"]
                if event.recent is not None:
                    r = event.recent
                    parts.append(f"{r.count} req p95 {r.p95_ms:.0f} ms")
                    parts.append(f"err {r.error_rate:.0%} fallback {r.fallback_rate:.0%}")
                parts += [f"{k}={v}" for k, v in event.values.items()]
                self._spinner.update(escape(" | ".join(parts)))
            case _:
                pass

    def _say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def close(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None


def results_table(result: RunResult) -> Table:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from harness.reports.markdown import status_line

    # Without gate verdicts (steady state never held, or aborted early) only the status line is useful.
    table = Table(
        title=escape(status_line(result)),
        title_justify="left",
        show_lines=False,
        show_header=bool(result.gates),
        box=box.HEAVY_HEAD if result.gates else None,
    )
    for column in ("", "gate", "expected", "observed", "detail"):
        table.add_column(column)
    for v in result.gates:
        mark = "[green]pass[/]" if v.passed else "[red]FAIL[/]"
        observed = "-" if v.observed is None else f"{v.observed:.4g}"
        table.add_row(mark, escape(v.title), escape(v.threshold), observed, escape(v.detail))
    return table


def load_all(paths: tuple[str, ...], variables: dict[str, str]) -> list[tuple[Path, Scenario]]:
    """Every scenario under ``paths``, validated; raises ``click.UsageError``-worthy ScenarioError."""
    files = find_scenarios(paths)
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    if not files:
        raise click.UsageError(f"no scenario files (*.yaml, *.yml) under {', '.join(paths)}")
    problems = []
    loaded = []
    for file in files:
        try:
            loaded.append((file, load_scenario(file, variables)))
        except ScenarioError as exc:
            problems += exc.problems
    if problems:
        raise ScenarioError(problems)
    return loaded


def report_problems(exc: ScenarioError) -> NoReturn:
    """Print each located problem on stderr and exit 2 (invalid input), without a traceback."""
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    raise SystemExit(int(ExitCode.USAGE))


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))


@click.command("run")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set ${NAME} in scenarios.")
@click.option(
    "--reports",
    "reports_dir",
    default="reports",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Reports go to DIR/<run-id>/ (result.json, junit.xml, summary.md, report.html).",
)
@click.option("--ci", is_flag=True, help="Plain output for logs (also when the CI variable is set).")
@click.option(
    "--seed", type=int, default=None, help="Seed for stub randomness (default: scenario's, or random)."
)
@click.option(
    "--toxiproxy",
    type=click.Choice([kind.value for kind in ToxiproxyKind]),
    default=None,
    help="Force a Toxiproxy kind (default: TOXIPROXY_URL, then a binary, Docker, the embedded one).",
)
@click.option(
    "--steady-timeout",
    type=click.FloatRange(0, 600),
    default=10.0,
    show_default=True,
    help="Seconds the steady state may take to hold before the faults (services warming up).",
)
def run_command(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    reports_dir: str,
    ci: bool,
    seed: int | None,
    toxiproxy: str | None,
    steady_timeout: float,
) -> None:
    """Run scenario files (or every *.yaml in folders) and exit with their verdict."""
    from rich.markup import escape

    from harness.reports import write_reports
    from harness.runner import RunOptions, new_run_id, run_scenario

    plain = ci or _in_ci()
    console = make_console(no_color=plain, highlight=False)
    try:
        scenarios = load_all(paths, parse_vars(variables))
    except ScenarioError as exc:
        report_problems(exc)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    codes: list[ExitCode] = []
    root = Path(reports_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.UsageError(f"cannot create the reports folder {root}: {exc.strerror or exc}") from None
    for file, scenario in scenarios:
        run_id = new_run_id(scenario.name)
        out = root / run_id
        console.print(f"[bold]== {escape(scenario.name)}[/] ({file}, {scenario.duration:g} s of phases)")
        progress = Progress(console, plain=plain)
        try:
            result = run_scenario(
                scenario,
                file=str(file),
                options=RunOptions(
                    seed=seed,
                    work_dir=out,
                    state_dir=root / ".state",
                    toxiproxy=toxiproxy,
                    steady_state_timeout=steady_timeout,
                    listeners=(progress,),
                    run_id=run_id,
                ),
            )
        finally:
            progress.close()
        written = write_reports(result, out)
        console.print(results_table(result))
        console.print(f"reports: {out}/ ({', '.join(p.name for p in written.values())})")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(written["md"].read_text(encoding="utf-8") + "\n")
        codes.append(result.exit_code)
        if result.status is Status.ABORTED and result.aborted_by is None:
            break  # a signal stops the whole run; an abort gate only its own scenario
    worst = next(code for code in _WORST if code in codes)
    if len(codes) > 1:
        console.print(f"{len(codes)} scenario(s): " + ", ".join(f"{c.name.lower()}" for c in codes))
    raise SystemExit(int(worst))


def register(group: click.Group) -> None:
    group.add_command(run_command)
