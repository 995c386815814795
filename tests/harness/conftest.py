"""Fixtures for the harness tests (helpers live in ``_chaos_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _chaos_helpers import real_toxiproxy

from harness.toxiproxy.client import ToxiproxyClient

collect_ignore_glob = ["data/*"]  # scenario files the tests use, not tests themselves


@pytest.fixture
def toxiproxy_server() -> Iterator[ToxiproxyClient]:
    """A real ``toxiproxy-server`` that outlives the runs under test, so its API can be checked after."""
    with real_toxiproxy() as client:
        yield client
