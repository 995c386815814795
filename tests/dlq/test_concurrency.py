"""Three DLQ replicas on one PostgreSQL deliver each message exactly once, never concurrently.

(Processes on PostgreSQL here; the same claim on SQLite is tested with three engines in
``test_store.py``, which is cheaper than three more server processes.)"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx
import pytest

from .conftest import AUTH, Destination, ServerProcess, message_body, server_env, wait_until

MESSAGES = 150
REPLICAS = 3


def _delivered_by(url: str) -> float:
    text = httpx.get(f"{url}/metrics", headers=AUTH, timeout=10).text
    match = re.search(r'resilience_dlq_redeliveries_total\{outcome="success"\} ([0-9.]+)', text)
    return float(match.group(1)) if match else 0.0


@pytest.mark.postgres
def test_three_replicas_deliver_each_message_exactly_once(
    postgres_url: str, processes: Callable[..., ServerProcess], destination: Destination
) -> None:
    destination.delay = 0.01  # widen the window in which a second delivery could overlap
    env = server_env(
        postgres_url,
        DLQ_SERVICE_MAP=json.dumps({"billing": destination.url}),
        DLQ_WORKER_INTERVAL="0.05",
        DLQ_WORKER_BATCH="10",
        DLQ_LEASE_SECONDS="30",
    )
    # Launched together, they also race to migrate the fresh database (PostgreSQL: advisory lock).
    replicas = [processes(env).launch() for _ in range(REPLICAS)]
    for replica in replicas:
        replica.wait_ready()

    with httpx.Client(base_url=replicas[0].url, headers=AUTH, timeout=30) as client:
        for start in range(0, MESSAGES, 50):
            batch = {"messages": [message_body(n) for n in range(start, start + 50)]}
            client.post("/messages/batch", json=batch).raise_for_status()
        ids = [m["message_id"] for m in client.get("/messages", params={"limit": 1000}).json()["messages"]]
        assert len(ids) == MESSAGES
        wait_until(
            lambda: client.get("/stats").json()["depth_by_status"]["RESOLVED"] == MESSAGES,
            timeout=90,
            interval=0.2,
        )

    assert sorted(destination.deliveries[i] for i in ids) == [1] * MESSAGES
    assert max(destination.max_concurrent_per_message.values()) == 1
    per_replica = [_delivered_by(r.url) for r in replicas]
    assert sum(per_replica) == MESSAGES
    assert sum(1 for n in per_replica if n > 0) >= 2, f"the replicas did not share the work: {per_replica}"
