"""The repository on real databases: atomic claims, leases, lifecycle, and schema = models."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from resilience.dlq.db import make_engine, migrate
from resilience.dlq.models import Base, MessageStatus
from resilience.dlq.store import Claim, MessageStateError, NewMessage, Outcome, Store


class FakeNow:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _new(n: int) -> NewMessage:
    return NewMessage("q", "svc", {"n": n}, f"ValueError: bad value {n}")


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Unique constraints are created by the migration under a generated name; compare the rest.
    assert [d for d in diff if d[0] not in {"add_constraint", "remove_constraint"}] == []
    migrate(engine)  # idempotent


def test_three_engines_claim_each_message_once(engine: Engine, database_url: str) -> None:
    Store(engine).create_many([_new(n) for n in range(120)])
    engines = [make_engine(database_url) for _ in range(3)]
    claimed: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(3)

    def claim_all(store: Store) -> None:
        barrier.wait()
        while batch := store.claim_due(limit=7, lease_seconds=60):
            with lock:
                claimed.update(c.message_id for c in batch)

    threads = [threading.Thread(target=claim_all, args=(Store(e),)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for e in engines:
        e.dispose()
    assert len(claimed) == 120 and set(claimed.values()) == {1}


def test_expired_lease_is_claimable_again_and_the_old_claim_is_lost(engine: Engine) -> None:
    now = FakeNow()
    store = Store(engine, now=now)
    store.create_many([_new(1)])
    (first,) = store.claim_due(limit=10, lease_seconds=30)
    assert store.claim_due(limit=10, lease_seconds=30) == []
    now.value += 31
    (second,) = store.claim_due(limit=10, lease_seconds=30)
    assert second.message_id == first.message_id and second.token != first.token

    def delivered(claim: Claim) -> Outcome:
        return Outcome(
            claim, now.value, 1.0, success=True, status_code=200, error=None, target_url="http://x"
        )

    policy = {"max_attempts": 3, "next_delay": lambda n: 10.0}
    assert store.finish([delivered(first)], **policy) == [None]  # the stale worker records nothing
    assert store.finish([delivered(second)], **policy) == [MessageStatus.RESOLVED]
    assert [a.outcome.value for a in store.get(first.message_id).attempts] == ["SUCCESS"]


def test_failures_back_off_then_fail_and_operator_actions(engine: Engine) -> None:
    now = FakeNow()
    store = Store(engine, now=now)
    (created,) = store.create_many([_new(1)])
    delays: list[int] = []

    def attempt() -> MessageStatus | None:
        (claim,) = store.claim_due(limit=1, lease_seconds=30)
        failed = Outcome(
            claim, now.value, 5.0, success=False, status_code=503, error="HTTP 503", target_url=None
        )
        (status,) = store.finish([failed], max_attempts=2, next_delay=lambda n: delays.append(n) or 10.0 * n)
        return status

    assert attempt() is MessageStatus.RETRYING and delays == [1]
    assert store.claim_due(limit=1, lease_seconds=30) == []  # not due for 10 s
    now.value += 10
    assert attempt() is MessageStatus.FAILED
    message = store.get(created.message.id)
    assert message.retry_count == 2 and message.next_attempt_at is None and len(message.attempts) == 2
    assert store.claim_due(limit=1, lease_seconds=30) == []

    assert store.redrive(created.message.id).status is MessageStatus.RETRYING
    assert attempt() is MessageStatus.FAILED  # a redriven FAILED message gets one more attempt
    store.resolve(created.message.id)
    with pytest.raises(MessageStateError):
        store.redrive(created.message.id)
