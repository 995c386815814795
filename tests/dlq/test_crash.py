"""Crash safety: a DLQ process killed with SIGKILL mid-stream loses no message it acknowledged."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import httpx

from .conftest import AUTH, ServerProcess, message_body, server_env, wait_until

WRITERS = 4
MAX_REQUESTS_PER_WRITER = 2000


def test_sigkill_during_creates_loses_no_acknowledged_message(
    database_url: str, processes: Callable[..., ServerProcess]
) -> None:
    env = server_env(database_url, DLQ_WORKER_ENABLED="false")
    server = processes(env).start()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def write(writer: int) -> None:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as client:
            for n in range(MAX_REQUESTS_PER_WRITER):
                if stop.is_set():
                    return
                body = message_body(n, source_queue=f"writer-{writer}")
                headers = {"Idempotency-Key": str(uuid.uuid4())}
                try:
                    response = client.post("/messages", json=body, headers=headers)
                except httpx.HTTPError:
                    return  # the server died: this request was never acknowledged
                if response.status_code == 200:
                    with lock:
                        acknowledged.append(response.json()["message_id"])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 100, timeout=60)
    time.sleep(0.2)  # keep creates in flight at the moment of the kill
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acknowledged) >= 100

    restarted = processes(env).start()
    with httpx.Client(base_url=restarted.url, headers=AUTH, timeout=10) as client:
        missing = [mid for mid in acknowledged if client.get(f"/messages/{mid}").status_code != 200]
        total = client.get("/messages", params={"limit": 1}).json()["total"]
    assert missing == []
    assert total >= len(acknowledged)
