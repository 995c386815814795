"""Property-based API fuzzing from the service's own OpenAPI: no generated request gets a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from .conftest import AUTH, FAST, InProcessServer

MAX_EXAMPLES = 15


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_schema(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[schemathesis.BaseSchema]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dlq.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    with InProcessServer(
        replace(FAST, database_url=url, worker_enabled=False, max_body_bytes=65_536)
    ) as server:
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=AUTH)


def test_no_request_gets_a_server_error(live_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in live_schema.get_all_operations()]
    assert len(operations) >= 12
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=AUTH, checks=[not_a_server_error], timeout=30)
            statuses.append(response.status_code)

        call()
    assert len(statuses) >= 5 * len(operations)
    assert any(200 <= s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
