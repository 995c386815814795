"""The ``harness`` command: a thin face over the runner, the embedded Toxiproxy and the stubs.

Each concern registers its own commands from its own module (``harness/commands/*.py``); this file
only builds the group, so adding a command never means editing a long list of unrelated code.
"""

from __future__ import annotations

import importlib

import click

# Modules that each expose ``register(group)``; listed explicitly so the CLI's surface is reviewable.
# They are all imported to build ``--help``, so each keeps heavy imports (FastAPI, uvicorn, httpx,
# Locust, rich) inside the commands that need them; tests/harness/test_chaos_cli.py checks this.
COMMAND_MODULES: tuple[str, ...] = (
    "harness.commands.stubs",
    "harness.commands.toxiproxy_serve",
    "harness.commands.toxiproxy_client",
    "harness.commands.run",
    "harness.commands.scenarios",
    "harness.commands.report",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="resilience-harness", prog_name="harness")  # looked up on --version
def cli() -> None:
    """Chaos and failure-injection harness for Python services."""


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(cli)


def main() -> None:
    """Console-script entry point; usage lines say ``harness`` under ``python -m`` too."""
    cli(prog_name="harness")


if __name__ == "__main__":  # python -m harness.cli
    main()
