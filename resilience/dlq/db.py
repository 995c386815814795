"""Engine construction and schema migrations.

SQLite runs in WAL mode with ``synchronous=FULL``: in WAL mode NORMAL already survives a killed
*process* (the commit is in the OS page cache), but FULL also fsyncs the WAL on every commit, so an
acknowledged message survives a power cut or kernel crash too; the DLQ's one promise is not losing
what it acknowledged, so we pay the fsync. Write transactions start with ``BEGIN IMMEDIATE`` so two
writers queue on ``busy_timeout`` instead of failing with ``SQLITE_BUSY`` when a read upgrades to a
write. PostgreSQL keeps its defaults (``synchronous_commit=on``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError

__all__ = ["WRITE", "make_engine", "migrate"]

WRITE = "dlq_write"
"""Execution option marking a connection whose transactions write (``BEGIN IMMEDIATE`` on SQLite)."""

_PACKAGE_DIR = Path(__file__).resolve().parent


def make_engine(url: str, *, busy_timeout_ms: int = 10_000) -> Engine:
    """Create the engine for ``url``; a clear ``ValueError`` if the URL cannot be parsed."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ValueError(f"DLQ_DATABASE_URL is not a valid SQLAlchemy URL: {url!r}") from exc
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"check_same_thread": False})
            _configure_sqlite(engine, busy_timeout_ms)
            return engine
        return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10)
    except (NoSuchModuleError, ImportError) as exc:
        # An unknown dialect ("postgres://") or a driver that is not installed ("mysql://" wants MySQLdb).
        shown = parsed.render_as_string(hide_password=True)
        raise ValueError(
            f"DLQ_DATABASE_URL {shown!r} names a database driver that is not available ({exc}); "
            "use sqlite:///path or postgresql+psycopg://user:pass@host/db"
        ) from exc


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own would be deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # PRAGMA takes no bound parameters; int() makes the only interpolated value a number.
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` with the packaged Alembic scripts (idempotent).

    On PostgreSQL the migration env takes an advisory lock, so replicas starting together take turns.
    """
    from alembic import command
    from alembic.config import Config

    config = Config(str(_PACKAGE_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(_PACKAGE_DIR / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
