"""Fixtures for the gateway end-to-end tests: stubs, a real DLQ service on SQLite, the gateway
(in-process on a free port, or a child process) with a short-timeout config, and Toxiproxy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from resilience.dlq.app import create_app as create_dlq_app
from resilience.dlq.settings import Settings
from stubs.gateway.app import create_app
from stubs.gateway.config import load_config
from stubs.platform import Platform
from stubs.server import StubServer
from stubs.services import REGISTRY

FAST = {"recovery_timeout": 1, "timeout": 0.5}
RETRY = {"base_delay": 0.01, "max_delay": 0.05, "jitter": False}
TEST_CONFIG: dict[str, Any] = {
    "services": {
        "user-service": {
            "failure_threshold": 3, **FAST, "retry": {"max_attempts": 2, **RETRY},
            "fallback": {"strategy": "last_known_good", "default": {"name": "Unknown"}},
        },
        "weather-service": {
            "failure_threshold": 3, **FAST, "retry": {"max_attempts": 3, **RETRY},
            "fallback": {"strategy": "last_known_good", "default": {"conditions": "unknown"}},
        },
        "prediction-service": {
            "failure_threshold": 5, **FAST, "retry": {"max_attempts": 2, **RETRY},
            "fallback": {"strategy": "last_known_good", "default": {"points": []}},
        },
        "processing-service": {"failure_threshold": 5, **FAST, "retry": {"max_attempts": 3, **RETRY}},
    }
}  # fmt: skip
"""Short recovery (1 s) and attempt (0.5 s) timeouts, fast retries: the suite stays quick."""


def write_config(
    path: Path,
    urls: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> Path:
    """TEST_CONFIG with the given URLs, plus ``extra`` top-level sections (``toggles``, ...)."""
    services = {name: {**section, "url": urls[name]} for name, section in TEST_CONFIG["services"].items()}
    path.write_text(json.dumps({"services": services, **(extra or {})}))
    return path


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    with Platform() as running:
        yield running


@pytest.fixture(scope="module")
def dlq(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real DLQ service (SQLite file); its worker redelivers through the stub registry."""
    database = tmp_path_factory.mktemp("dlq") / "dlq.db"
    settings = Settings(
        database_url=f"sqlite:///{database}",
        registry_url=platform.urls[REGISTRY],
        worker_interval=0.2,
        backoff_base=0.3,
        delivery_timeout=2.0,
    )
    with StubServer(create_dlq_app(settings), name="dlq") as server:
        yield server.url


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "platform" in request.fixturenames:
        request.getfixturevalue("platform").reset()


@pytest.fixture
def upstream_urls(platform: Platform) -> dict[str, str]:
    return {name: url for name, url in platform.urls.items() if name != REGISTRY}


GatewayFactory = Callable[..., httpx.Client]


@pytest.fixture
def make_gateway(upstream_urls: dict[str, str], tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start an in-process gateway; returns an httpx client on it. Stopped after the test."""
    stack: list[tuple[StubServer, httpx.Client]] = []

    def start(
        *,
        dlq_url: str | None = None,
        urls: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        environ: dict[str, str] | None = None,
    ) -> httpx.Client:
        path = write_config(tmp_path / f"gateway-{len(stack)}.json", {**upstream_urls, **(urls or {})}, extra)
        app = create_app(load_config(path, dlq_url=dlq_url, environ={}), environ=environ or {})
        server = StubServer(app, name="gateway").start()
        client = httpx.Client(base_url=server.url, timeout=15.0)
        stack.append((server, client))
        return client

    yield start
    for server, client in stack:
        client.close()
        server.stop()


@pytest.fixture
def gateway(make_gateway: GatewayFactory, dlq: str) -> httpx.Client:
    return make_gateway(dlq_url=dlq)
