"""The client: durable spool while the DLQ is down, and dead-lettering once after the final retry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from resilience.dlq.client import (
    DLQClient,
    DLQRejectedError,
    DLQUnavailableError,
    dead_letter_on_failure,
    send_to_dead_letter_queue,
)
from resilience.errors import RetryError
from resilience.retry import retry

from .conftest import API_KEY, AUTH, FAST, InProcessServer, free_port


def _total(url: str) -> int:
    return int(httpx.get(f"{url}/messages", headers=AUTH, params={"limit": 1}).json()["total"])


def _messages(url: str) -> list[dict[str, object]]:
    return list(httpx.get(f"{url}/messages", headers=AUTH, params={"limit": 1000}).json()["messages"])


@pytest.fixture
def dlq(tmp_path: Path) -> Iterator[InProcessServer]:
    settings = replace(FAST, database_url=f"sqlite:///{tmp_path / 'dlq.db'}", worker_enabled=False)
    with InProcessServer(settings) as server:
        yield server


def test_messages_sent_while_the_dlq_is_down_arrive_after_it_returns(tmp_path: Path) -> None:
    port = free_port()
    settings = replace(FAST, database_url=f"sqlite:///{tmp_path / 'dlq.db'}", worker_enabled=False)
    spool = tmp_path / "spool" / "dlq-spool.db"
    with DLQClient(f"http://127.0.0.1:{port}", api_key=API_KEY, spool_path=spool, timeout=2) as client:
        results = [
            client.send(
                {"n": n}, "boom", source_queue="q", destination_service="s", idempotency_key=f"down-{n}"
            )
            for n in range(5)
        ]
        assert all(r.spooled and r.message_id is None for r in results)
        assert client.spooled() == 5 and client.flush() == 0

    # A new client (a restarted process) finds the spool on disk.
    server = InProcessServer(settings, port).__enter__()
    with DLQClient(server.url, api_key=API_KEY, spool_path=spool) as client:
        # One spooled message reached the DLQ by another path first (a response lost to a timeout):
        direct = {
            "source_queue": "q",
            "destination_service": "s",
            "payload": {"n": 0},
            "error_message": "boom",
        }
        httpx.post(f"{server.url}/messages", json=direct, headers={**AUTH, "Idempotency-Key": "down-0"})
        assert client.flush() == 5
        assert client.spooled() == 0 and client.flush() == 0
    assert sorted(m["source_queue"] for m in _messages(server.url)) == ["q"] * 5

    server.__exit__()
    with DLQClient(server.url, api_key=API_KEY, spool_path=spool, timeout=2) as client:
        assert client.send({"n": 9}, "late", source_queue="q", destination_service="s").spooled
        with InProcessServer(settings, port) as restarted:
            sent = client.send({"n": 10}, "later", source_queue="q", destination_service="s")
            assert not sent.spooled and sent.message_id is not None
            assert client.spooled() == 0  # flushed opportunistically by the successful send
            assert _total(restarted.url) == 7


def test_rejected_spooled_messages_are_set_aside(tmp_path: Path, dlq: InProcessServer) -> None:
    spool = tmp_path / "spool.db"
    port = free_port()
    with DLQClient(f"http://127.0.0.1:{port}", api_key=API_KEY, spool_path=spool, timeout=1) as down:
        down.send({"ok": 1}, "e", source_queue="q", destination_service="s")
        down.send({"ok": 2}, "e", source_queue="", destination_service="s")  # the DLQ will refuse it
    with DLQClient(dlq.url, api_key=API_KEY, spool_path=spool) as client:
        assert client.flush() == 1
        rejected = client.rejected()
        assert (
            len(rejected) == 1
            and rejected[0]["body"]["payload"] == {"ok": 2}
            and "400" in rejected[0]["error"]
        )
        assert client.spooled() == 0
    assert _total(dlq.url) == 1


def test_without_a_spool_an_unreachable_dlq_raises(dlq: InProcessServer) -> None:
    with DLQClient(f"http://127.0.0.1:{free_port()}", api_key=API_KEY, timeout=1) as client:
        with pytest.raises(DLQUnavailableError):
            client.send({}, "e", source_queue="q", destination_service="s")
        assert client.send_to_dead_letter_queue({}, "e", source_queue="q", destination_service="s") is False
    with DLQClient(dlq.url, api_key="wrong") as client, pytest.raises(DLQRejectedError) as info:
        client.send({}, "e", source_queue="q", destination_service="s")
    assert info.value.status_code == 401


def test_seed_compatible_call(dlq: InProcessServer) -> None:
    with DLQClient(dlq.url, api_key=API_KEY) as client:
        assert client.send_to_dead_letter_queue(
            "plain text", "bad", source_queue="q", destination_service="s"
        )
        assert send_to_dead_letter_queue(
            {"a": 1}, "bad", source_queue="q", destination_service="s", client=client
        )
    payloads = sorted(str(httpx.get(f"{dlq.url}/messages/{m['message_id']}", headers=AUTH).json()["payload"])
                      for m in _messages(dlq.url))  # fmt: skip
    assert payloads == ["{'a': 1}", "{'value': 'plain text'}"]


def test_the_seeds_two_argument_call_works_as_written(
    dlq: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``send_to_dead_letter_queue(message, str(e))``: the seed's queue and service names, the DLQ from
    ``DLQ_URL``/``DLQ_API_KEY`` (the default client is process-wide, so it is reset around the test)."""
    from resilience.dlq import client as client_module

    monkeypatch.setenv("DLQ_URL", dlq.url)
    monkeypatch.setenv("DLQ_API_KEY", API_KEY)
    monkeypatch.delenv("DLQ_SPOOL_PATH", raising=False)
    monkeypatch.setattr(client_module, "_default_client", None)
    try:
        assert send_to_dead_letter_queue({"order": 1}, "ValueError: bad total") is True
        with DLQClient(dlq.url, api_key=API_KEY) as client:
            assert client.send_to_dead_letter_queue({"order": 2}, "ValueError: bad total") is True
    finally:
        client_module.default_client().close()
    (first, second) = sorted(_messages(dlq.url), key=lambda m: str(m["created_at"]))
    for message in (first, second):
        assert message["source_queue"] == "main-queue"
        assert message["destination_service"] == "processing-service"
        assert message["error_type"] == "ValueError"


def test_dead_letters_once_after_the_final_attempt(dlq: InProcessServer) -> None:
    calls: list[dict[str, int]] = []
    with DLQClient(dlq.url, api_key=API_KEY) as client:

        @dead_letter_on_failure(client, source_queue="orders", destination_service="billing")
        @retry(max_attempts=3, retry_exceptions=ConnectionError, base_delay=0.01, max_delay=0.01)
        def process(message: dict[str, int]) -> None:
            calls.append(message)
            raise ConnectionError(f"refused on attempt {len(calls)}")

        with pytest.raises(ConnectionError):
            process({"order": 42})
    assert len(calls) == 3
    (stored,) = _messages(dlq.url)
    assert stored["error_type"] == "ConnectionError" and stored["error_message"] == "refused on attempt 3"
    assert stored["source_queue"] == "orders" and stored["destination_service"] == "billing"


def test_async_functions_and_wrapped_retry_errors(dlq: InProcessServer) -> None:
    attempts = 0
    with DLQClient(dlq.url, api_key=API_KEY) as client:

        @dead_letter_on_failure(client, source_queue="q", destination_service="s", payload=lambda m: {"m": m})
        @retry(max_attempts=2, retry_exceptions=TimeoutError, base_delay=0.01, max_delay=0.01, wrap=True)
        async def handle(message: str) -> str:
            nonlocal attempts
            attempts += 1
            raise TimeoutError("slow upstream")

        @dead_letter_on_failure(client, source_queue="q", destination_service="s")
        async def fine(message: dict[str, int]) -> str:
            return "ok"

        with pytest.raises(RetryError):
            asyncio.run(handle("hello"))
        assert asyncio.run(fine({"x": 1})) == "ok"
    assert attempts == 2
    (stored,) = _messages(dlq.url)
    assert stored["error_type"] == "TimeoutError" and stored["error_message"] == "slow upstream"


def test_a_failed_dead_letter_keeps_the_original_error(dlq: InProcessServer) -> None:
    with DLQClient(f"http://127.0.0.1:{free_port()}", timeout=1) as client:

        @dead_letter_on_failure(client, source_queue="q", destination_service="s")
        def process(message: dict[str, int]) -> None:
            raise ValueError("bad input")

        with pytest.raises(ValueError) as info:
            process({"x": 1})
    assert any("dead-lettering this failure also failed" in note for note in info.value.__notes__)


def test_an_unusable_spool_path_is_a_clear_value_error(tmp_path: Path) -> None:
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database\n" * 100)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    for path, why in ((not_sqlite, "file is not a database"), (blocked / "spool.db", "a-file")):
        with pytest.raises(ValueError, match="cannot open the DLQ spool at") as info:
            DLQClient("http://127.0.0.1:9", spool_path=path)
        assert why in str(info.value)
