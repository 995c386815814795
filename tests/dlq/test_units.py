"""Pure parts: fingerprints, settings from the environment, alert rules and debounce, rate limit,
catalog discovery."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from resilience._clock import ManualClock
from resilience.dlq.alerts import Alerter, evaluate
from resilience.dlq.discovery import ServiceNotFoundError, ServiceResolver
from resilience.dlq.fingerprint import error_type_of, fingerprint, normalise
from resilience.dlq.logs import JsonFormatter
from resilience.dlq.settings import ConfigError, Settings
from resilience.dlq.store import Stats
from resilience.dlq.worker import TokenBucket

from .conftest import Destination


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("timeout after 30.5s for order 1234", "timeout after 2s for order 99"),
        (
            "user 123e4567-e89b-12d3-a456-426614174000 missing",
            "user 00000000-0000-4000-8000-000000000001 missing",
        ),
        ("KeyError: 'alice'", 'KeyError: "bob"'),
        ("bad pointer 0xdeadbeef", "bad pointer 0x1"),
        ("digest 3f2a9c1d88e7b0aa mismatch", "digest 0badc0ffee123456 mismatch"),
        ("two   spaces\tand tab", "two spaces and tab"),
    ],
)
def test_variable_parts_do_not_change_the_fingerprint(a: str, b: str) -> None:
    assert fingerprint("E", a) == fingerprint("E", b)


def test_type_and_wording_do_change_it() -> None:
    assert fingerprint("E", "disk full")[0] != fingerprint("F", "disk full")[0]
    assert fingerprint("E", "disk full")[0] != fingerprint("E", "disk empty")[0]
    assert normalise("order 12 of 'x'") == "order <num> of <str>"
    assert error_type_of("ValueError: nope") == "ValueError"
    assert error_type_of("no prefix here") == "Error"
    assert error_type_of("ValueError: nope", "Custom") == "Custom"


def test_settings_from_env(tmp_path: Path) -> None:
    services = tmp_path / "services.json"
    services.write_text(json.dumps({"billing": "http://127.0.0.1:9000/"}))
    settings = Settings.from_env(
        {
            "DLQ_API_KEY": "k",
            "DLQ_MAX_ATTEMPTS": "7",
            "DLQ_WORKER_ENABLED": "false",
            "DLQ_REDRIVE_RATE": "2.5",
            "DLQ_SERVICE_MAP": f"@{services}",
            "DLQ_ALERT_DEPTH": "",
        }
    )
    assert settings.api_key == "k" and settings.max_attempts == 7 and settings.worker_enabled is False
    assert settings.redrive_rate == 2.5 and settings.alert_depth is None
    assert settings.service_map == {"billing": "http://127.0.0.1:9000"}
    assert Settings.from_env({}).database_url.startswith("sqlite:///")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DLQ_MAX_ATTEMPTS": "zero"}, "DLQ_MAX_ATTEMPTS"),
        ({"DLQ_MAX_ATTEMPTS": "0"}, "DLQ_MAX_ATTEMPTS"),
        ({"DLQ_WORKER_ENABLED": "maybe"}, "DLQ_WORKER_ENABLED"),
        ({"DLQ_SERVICE_MAP": "[1, 2]"}, "DLQ_SERVICE_MAP"),
        ({"DLQ_SERVICE_MAP": '{"a": "ftp://x"}'}, "DLQ_SERVICE_MAP"),
        ({"DLQ_SERVICE_MAP": "@/nonexistent/file.json"}, "DLQ_SERVICE_MAP"),
        ({"DLQ_LEASE_SECONDS": "5", "DLQ_DELIVERY_TIMEOUT": "10"}, "DLQ_LEASE_SECONDS"),
        ({"DLQ_API_KEY": ""}, "DLQ_API_KEY"),
        ({"DLQ_REDRIVE_RATE": "-1"}, "DLQ_REDRIVE_RATE"),
        ({"DLQ_REGISTRY_URL": "consul:8500"}, "DLQ_REGISTRY_URL"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env)


def _stats(unresolved: int = 0, age: float | None = None, recent: int = 0) -> Stats:
    group = {"fingerprint": "f1", "error_type": "E", "normalized_message": "m", "recent": recent}
    return Stats({}, {}, [group], age, unresolved)


def test_alert_rules() -> None:
    settings = Settings(alert_depth=10, alert_oldest_age=60, alert_group_rate=5)
    assert evaluate(_stats(9, 59.0, 4), settings) == []
    kinds = {a.kind for a in evaluate(_stats(10, 60.0, 5), settings)}
    assert kinds == {"depth", "oldest_age", "group_rate"}
    assert evaluate(_stats(10**6, 10**6, 10**6), Settings()) == []


def test_alerts_are_debounced_per_key_and_posted(destination: Destination) -> None:
    clock = ManualClock()
    settings = Settings(alert_depth=1, alert_debounce=60, alert_webhook_url=f"{destination.url}/alerts")

    async def scenario() -> list[int]:
        async with httpx.AsyncClient() as http:
            alerter = Alerter(settings, http=http, monotonic=clock.monotonic)
            fired = [len(await alerter.check(_stats(5)))]
            clock.advance(59)
            fired.append(len(await alerter.check(_stats(5))))
            clock.advance(2)
            fired.append(len(await alerter.check(_stats(5))))
            return fired

    assert asyncio.run(scenario()) == [1, 0, 1]
    assert [a["kind"] for a in destination.alerts] == ["depth", "depth"]


def test_a_broken_webhook_does_not_raise() -> None:
    settings = Settings(alert_depth=1, alert_webhook_url="http://127.0.0.1:9/unreachable")

    async def scenario() -> int:
        async with httpx.AsyncClient(timeout=1) as http:
            return len(await Alerter(settings, http=http).check(_stats(5)))

    assert asyncio.run(scenario()) == 1


def test_token_bucket_paces_to_the_rate() -> None:
    clock = ManualClock()

    async def scenario() -> float:
        bucket = TokenBucket(2.0, clock=clock)
        for _ in range(6):
            await bucket.acquire()
        return clock.monotonic()

    # Burst of 2, then one every 0.5 s: four more acquisitions take 2 s.
    assert asyncio.run(scenario()) == pytest.approx(2.0)


def test_catalog_lookup_round_robin_and_errors(destination: Destination) -> None:
    destination.catalog["billing"] = [
        {"Address": "127.0.0.2", "ServiceAddress": "", "ServicePort": 81},
        {"Address": "10.0.0.1", "ServiceAddress": "127.0.0.3", "ServicePort": 82},
        {"Address": "x", "ServicePort": "not a port"},
    ]

    async def scenario() -> list[str]:
        async with httpx.AsyncClient() as http:
            resolver = ServiceResolver({"static": "http://static:1"}, destination.url, http=http)
            urls = [await resolver.resolve("billing") for _ in range(3)]
            urls.append(await resolver.resolve("static"))
            with pytest.raises(ServiceNotFoundError, match="no instance"):
                await resolver.resolve("ghost")
            without_registry = ServiceResolver({}, None, http=http)
            with pytest.raises(ServiceNotFoundError, match="DLQ_SERVICE_MAP"):
                await without_registry.resolve("billing")
            return urls

    assert asyncio.run(scenario()) == [
        "http://127.0.0.2:81", "http://127.0.0.3:82", "http://127.0.0.2:81", "http://static:1",
    ]  # fmt: skip


def test_importing_the_client_does_not_import_the_service_stack() -> None:
    code = (
        "import sys, resilience, resilience.dlq\n"
        "from resilience.dlq import DLQClient, dead_letter_on_failure\n"
        "heavy = [m for m in ('sqlalchemy', 'fastapi', 'starlette', 'alembic') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_json_logs_carry_the_event_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "resilience.dlq.worker",
            "levelname": "WARNING",
            "msg": "failed %s",
            "args": ("x",),
            "message_id": "m-1",
            "status_code": 503,
        }
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "failed x" and entry["level"] == "warning"
    assert entry["message_id"] == "m-1" and entry["status_code"] == 503 and "ts" in entry
