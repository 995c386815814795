"""Redelivery end to end against the platform's processing-service stub, found through the stub
registry (the Consul catalog), as an operator would run it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from stubs.platform import Platform

from .conftest import InProcessServer, message_body, wait_until

Serve = Callable[..., InProcessServer]


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    with Platform() as running:
        yield running


@pytest.fixture
def stub_dlq(serve: Serve, platform: Platform) -> httpx.Client:
    platform.reset()
    return serve(registry_url=platform.urls["service-registry"], delivery_attempts=1).client()


def _attempts(api: httpx.Client, message_id: str) -> list[dict[str, object]]:
    return list(api.get(f"/messages/{message_id}").json()["attempts"])


def test_fail_first_then_succeed_goes_retrying_then_resolved(
    stub_dlq: httpx.Client, platform: Platform
) -> None:
    processing = platform.control("processing-service")
    processing.set_behaviour(fail_first=2, error_status=[503])
    body = message_body(7, destination_service="processing-service")
    message_id = stub_dlq.post("/messages", json=body).json()["message_id"]
    wait_until(lambda: len(_attempts(stub_dlq, message_id)) >= 1)
    assert stub_dlq.get(f"/messages/{message_id}").json()["status"] in ("RETRYING", "RESOLVED")
    wait_until(lambda: stub_dlq.get(f"/messages/{message_id}").json()["status"] == "RESOLVED")
    got = stub_dlq.get(f"/messages/{message_id}").json()
    assert [(a["outcome"], a["status_code"]) for a in got["attempts"]] == [
        ("FAILURE", 503),
        ("FAILURE", 503),
        ("SUCCESS", 200),
    ]
    assert got["attempts"][0]["target_url"] == platform.urls["processing-service"] + "/messages"
    processed = httpx.get(platform.urls["processing-service"] + "/messages").json()
    assert processed["per_key"] == {message_id: 1}  # keyed by the DLQ's Idempotency-Key header


def test_retry_after_from_the_destination_delays_the_next_redelivery(
    stub_dlq: httpx.Client, platform: Platform
) -> None:
    """The backoff here is 50-200 ms; the destination's Retry-After of 1 s must win."""
    platform.control("processing-service").set_behaviour(fail_first=1, error_status=[503], retry_after_s=1)
    body = message_body(8, destination_service="processing-service")
    message_id = stub_dlq.post("/messages", json=body).json()["message_id"]
    wait_until(lambda: stub_dlq.get(f"/messages/{message_id}").json()["status"] == "RESOLVED")
    first, second = _attempts(stub_dlq, message_id)
    assert first["status_code"] == 503 and "Retry-After: 1s" in str(first["error"])
    assert float(str(second["attempted_at"])) - float(str(first["attempted_at"])) >= 0.95


def test_a_permanently_failing_destination_ends_failed_with_every_attempt(
    stub_dlq: httpx.Client, platform: Platform
) -> None:
    platform.control("processing-service").set_behaviour(error_rate=1.0, error_status=[502])
    body = message_body(9, destination_service="processing-service")
    message_id = stub_dlq.post("/messages", json=body).json()["message_id"]
    wait_until(lambda: stub_dlq.get(f"/messages/{message_id}").json()["status"] == "FAILED")
    got = stub_dlq.get(f"/messages/{message_id}").json()
    assert got["retry_count"] == 3 and got["next_attempt_at"] is None  # FAST: max_attempts=3
    assert [(a["outcome"], a["status_code"]) for a in got["attempts"]] == [("FAILURE", 502)] * 3
    assert platform.control("processing-service").count("/messages") == 3
