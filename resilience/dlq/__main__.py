"""``python -m resilience.dlq [--host H] [--port P]`` serves the DLQ; ``... migrate`` only migrates.

Configuration comes from ``DLQ_*`` environment variables (see :class:`resilience.dlq.settings.Settings`).
"""

from __future__ import annotations

import logging
import sys

import click

from resilience.dlq.settings import ConfigError, Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))  # fmt: skip
@click.pass_context
def main(ctx: click.Context, host: str, port: int, log_level: str) -> None:
    """Dead-letter queue service (configured by DLQ_* environment variables)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from resilience.dlq.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(_settings())
    uvicorn.run(app, host=host, port=port, log_level=log_level)


@main.command()
@click.option("--revision", default="head", show_default=True, help="Alembic revision to upgrade to.")
def migrate(revision: str) -> None:
    """Create or upgrade the database schema, then exit."""
    from resilience.dlq.db import make_engine
    from resilience.dlq.db import migrate as run_migrations

    settings = _settings()
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        run_migrations(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"database at {engine.url.render_as_string(hide_password=True)} is at revision {revision}")


if __name__ == "__main__":
    sys.exit(main())
