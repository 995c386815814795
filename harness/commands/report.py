"""``harness report RESULT.json --format html|md|junit|json``: rebuild a report from a stored result."""

from __future__ import annotations

from pathlib import Path

import click

from harness.reports import RENDERERS
from harness.result import load_result

__all__ = ["register"]


@click.command("report")
@click.argument("result_path", metavar="RESULT.json", type=click.Path())
@click.option("-f", "--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def report_command(result_path: str, fmt: str, output: str | None) -> None:
    """Render a report from a run's result.json (reports are pure functions of it)."""
    try:
        result = load_result(result_path)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    text = RENDERERS[fmt](result)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


def register(group: click.Group) -> None:
    group.add_command(report_command)
