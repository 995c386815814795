"""Scenario files without running them: ``validate``, ``plan``, ``list``, ``new``, ``schema``, ``cleanup``."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import click

from harness.commands._console import make_console
from harness.commands.run import report_problems
from harness.defaults import DEFAULT_STATE_DIR
from harness.plan import make_plan, render_plan
from harness.scenario import ScenarioError, find_scenarios, json_schema, load_scenario, parse_vars

__all__ = ["register"]


_VAR_OPTION = click.option(
    "--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set ${NAME} in scenarios."
)


def _vars(variables: tuple[str, ...]) -> dict[str, str]:
    try:
        return parse_vars(variables)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _files(paths: tuple[str, ...]) -> list[Path]:
    files = find_scenarios(paths)
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    return files


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_VAR_OPTION
def validate_command(paths: tuple[str, ...], variables: tuple[str, ...]) -> None:
    """Check scenario files; every problem is printed as FILE:LINE:COLUMN: KEY: MESSAGE (exit 2)."""
    values = _vars(variables)
    bad = 0
    files = _files(paths)
    if not files:
        raise click.UsageError(f"no scenario files (*.yaml, *.yml) under {', '.join(paths)}")
    for file in files:
        try:
            s = load_scenario(file, values)
        except ScenarioError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            continue
        click.echo(f"ok  {file}: {s.name}, {len(s.phases)} phases, {len(s.gates)} gates, {s.duration:g} s")
    if bad:
        click.echo(f"{bad} of {len(files)} file(s) invalid", err=True)
        raise SystemExit(2)


@click.command("plan")
@click.argument("path", type=click.Path())
@_VAR_OPTION
def plan_command(path: str, variables: tuple[str, ...]) -> None:
    """Print the timeline of faults, probes and gates, without starting or touching anything."""
    try:
        scenario = load_scenario(path, _vars(variables))
    except ScenarioError as exc:
        report_problems(exc)
    click.echo(render_plan(make_plan(scenario)))


@click.command("list")
@click.argument("paths", nargs=-1, type=click.Path())
@_VAR_OPTION
def list_command(paths: tuple[str, ...], variables: tuple[str, ...]) -> None:
    """List scenarios (default: ./scenarios) with their length, faults and gates."""
    from rich.markup import escape
    from rich.table import Table

    values = _vars(variables)
    files = _files(paths or ("scenarios",))
    table = Table(show_lines=False)
    for column in ("scenario", "file", "phases", "seconds", "faults", "gates", "description"):
        table.add_column(column)
    for file in files:
        try:
            s = load_scenario(file, values)
        except ScenarioError as exc:
            table.add_row("[red]invalid[/]", str(file), "", "", "", "", escape(str(exc.problems[0])))
            continue
        faults = sum(len(p.faults) for p in s.phases)
        row = (s.name, str(file), str(len(s.phases)), f"{s.duration:g}", str(faults), str(len(s.gates)))
        table.add_row(*(escape(c) for c in row), escape(s.description.strip()))
    make_console(highlight=False).print(table)


@click.command("new")
@click.argument("name")
@click.option("--dir", "directory", default="scenarios", show_default=True, type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def new_command(name: str, directory: str, force: bool) -> None:
    """Write a commented starter scenario DIR/NAME.yaml (valid as written; edit and run it)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise click.UsageError(f"NAME may use letters, digits, '_', '.', '-' only; got {name!r}")
    target = Path(directory) / f"{name}.yaml"
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists; pass --force to overwrite it")
    template = resources.files("harness").joinpath("templates/scenario.yaml").read_text(encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(template.replace("__NAME__", name), encoding="utf-8")
    click.echo(f"wrote {target}; try: harness plan {target} && harness run {target}")


@click.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def schema_command(output: str | None) -> None:
    """Print the JSON Schema of scenario files (for editor completion and checking)."""
    text = json.dumps(json_schema(), indent=2) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@click.command("cleanup")
@click.option(
    "--state-dir", default=str(DEFAULT_STATE_DIR), show_default=True, type=click.Path(file_okay=False)
)
@click.option(
    "--toxiproxy-url", envvar="TOXIPROXY_URL", help="Also sweep this Toxiproxy for dead runs' proxies."
)
def cleanup_command(state_dir: str, toxiproxy_url: str | None) -> None:
    """Remove faults, proxies and processes left by killed runs (``run`` does this by itself first)."""
    from harness.faults import clean_leftovers
    from harness.toxiproxy.client import ToxiproxyClient

    client = ToxiproxyClient(toxiproxy_url, timeout=3.0) if toxiproxy_url else None
    try:
        cleaned = clean_leftovers(Path(state_dir), client)
    finally:
        if client is not None:
            client.close()
    for line in cleaned:
        click.echo(line)
    click.echo(f"{len(cleaned)} leftover(s) cleaned")


def register(group: click.Group) -> None:
    for command in (
        validate_command,
        plan_command,
        list_command,
        new_command,
        schema_command,
        cleanup_command,
    ):
        group.add_command(command)
