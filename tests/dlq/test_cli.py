"""``python -m resilience.dlq``: the migrate command and clear configuration errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resilience.dlq", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dlq.db'}"
    result = _run(["migrate"], DLQ_DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert "is at revision head" in result.stdout
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"dead_lettered_messages", "delivery_attempts", "failure_groups", "alembic_version"} <= tables


def test_bad_configuration_is_one_clear_line(tmp_path: Path) -> None:
    bad_number = _run(["migrate"], DLQ_MAX_ATTEMPTS="lots")
    assert bad_number.returncode == 2 and "DLQ_MAX_ATTEMPTS='lots' is invalid" in bad_number.stderr
    assert "Traceback" not in bad_number.stderr
    bad_url = _run(["--port", "0"], DLQ_DATABASE_URL="not a url")
    assert bad_url.returncode == 2 and "DLQ_DATABASE_URL is not a valid SQLAlchemy URL" in bad_url.stderr
    unreachable = _run(["migrate"], DLQ_DATABASE_URL=f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    assert unreachable.returncode == 1 and "cannot migrate the database" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_an_unknown_dialect_or_missing_driver_is_one_clear_line() -> None:
    for url, why in (("foo://x", "sqlalchemy.dialects:foo"), ("mysql://u@127.0.0.1/db", "MySQLdb")):
        result = _run(["--port", "0"], DLQ_DATABASE_URL=url)
        assert result.returncode == 2, result.stderr
        assert "names a database driver that is not available" in result.stderr and why in result.stderr
        assert "Traceback" not in result.stderr


def test_a_database_error_at_startup_is_a_single_line(tmp_path: Path) -> None:
    """SQLAlchemy's text adds the statement and a documentation link on further lines."""
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("this is not a database\n" * 100)
    result = _run(["migrate"], DLQ_DATABASE_URL=f"sqlite:///{not_a_database}")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: cannot migrate the database at sqlite:///") and "not a database" in line


def test_an_unknown_revision_is_a_single_line(tmp_path: Path) -> None:
    result = _run(["migrate", "--revision", "nonsense"], DLQ_DATABASE_URL=f"sqlite:///{tmp_path / 'dlq.db'}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "cannot migrate the database" in line and "'nonsense'" in line
