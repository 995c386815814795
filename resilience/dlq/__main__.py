"""``python -m resilience.dlq [--host H] [--port P]`` serves the DLQ; ``... migrate`` only migrates.

Configuration comes from ``DLQ_*`` environment variables (see :class:`resilience.dlq.settings.Settings`).
"""

from __future__ import annotations

import dataclasses
import sys

import click

from resilience.dlq.logs import configure_logging
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
@click.option("--log-format", default="text", show_default=True, type=click.Choice(["text", "json"]),
              help="json: one object per line with the event's fields as keys.")  # fmt: skip
@click.pass_context
def main(ctx: click.Context, host: str, port: int, log_level: str, log_format: str) -> None:
    """Dead-letter queue service (configured by DLQ_* environment variables)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from resilience.dlq.app import create_app

    configure_logging(log_level, log_format)
    settings = _settings()
    if settings.migrate_on_startup:
        _migrate(settings, "head")  # here, so a bad URL or an unreachable database is one clear line
    app = create_app(dataclasses.replace(settings, migrate_on_startup=False))
    uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=None)


@main.command()
@click.option("--revision", default="head", show_default=True, help="Alembic revision to upgrade to.")
def migrate(revision: str) -> None:
    """Create or upgrade the database schema, then exit."""
    url = _migrate(_settings(), revision)
    click.echo(f"database at {url} is at revision {revision}")


def _migrate(settings: Settings, revision: str) -> str:
    """Run the migrations; any failure becomes a one-line error naming the database."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from resilience.dlq.db import make_engine
    from resilience.dlq.db import migrate as run_migrations

    try:
        engine = make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    url = engine.url.render_as_string(hide_password=True)
    try:
        run_migrations(engine, revision)
    except (SQLAlchemyError, OSError, CommandError) as exc:  # CommandError: an unknown revision
        raise click.ClickException(f"cannot migrate the database at {url}: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    return url


def _first_line(exc: BaseException) -> str:
    """The driver's own first line (SQLAlchemy adds the statement and a documentation link)."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[0]}" if lines else repr(cause)


if __name__ == "__main__":
    sys.exit(main())
