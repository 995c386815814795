"""Alembic environment: uses the caller's connection, or DLQ_DATABASE_URL for the alembic CLI."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, text

from resilience.dlq.db import make_engine
from resilience.dlq.models import Base
from resilience.dlq.settings import DEFAULT_DATABASE_URL

# Any 64-bit constant works; it only has to be the same for every replica.
_ADVISORY_LOCK_KEY = 0x5D1C0DE


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(os.environ.get("DLQ_DATABASE_URL", DEFAULT_DATABASE_URL))
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
_main()
