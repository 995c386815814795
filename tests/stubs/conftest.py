"""Fixtures for the stub tests: one in-process platform per module, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from stubs.platform import Platform


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    with Platform() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "platform" in request.fixturenames:
        request.getfixturevalue("platform").reset()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as http:
        yield http
