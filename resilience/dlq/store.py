"""The repository: every database read and write the service makes, behind plain methods.

All SQL is built with SQLAlchemy constructs and bound parameters. Methods are synchronous; the API
runs them in FastAPI's thread pool and the worker through :func:`asyncio.to_thread`.

Claims are atomic so replicas never deliver one message concurrently: one ``UPDATE ... WHERE id IN
(due ids) AND <still claimable>`` stamps a fresh claim token and a lease expiry, and only rows carrying
that token are delivered. PostgreSQL selects the due ids with ``FOR UPDATE SKIP LOCKED`` (replicas
skip each other's rows instead of waiting), SQLite serialises writers with ``BEGIN IMMEDIATE``; on
both, the conditions are re-checked on the row being updated, so a row is claimed by one token only.
A lease that expires (a worker died mid-delivery) makes the message claimable again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from resilience import errors
from resilience.dlq.db import WRITE
from resilience.dlq.fingerprint import error_type_of, fingerprint
from resilience.dlq.models import (
    DELIVERABLE,
    UNRESOLVED,
    Attempt,
    AttemptOutcome,
    FailureGroup,
    Message,
    MessageStatus,
)

__all__ = [
    "Claim",
    "Created",
    "IdempotencyConflictError",
    "MessageFilter",
    "MessageNotFoundError",
    "MessageStateError",
    "NewMessage",
    "Outcome",
    "Stats",
    "Store",
]


class MessageNotFoundError(errors.NotFoundError):
    """No message with that id (404)."""

    code = "MESSAGE_NOT_FOUND"
    expose_message = True


class MessageStateError(errors.ConflictError):
    """The message's state does not allow the operation, e.g. redriving a resolved message (409)."""

    code = "MESSAGE_STATE_CONFLICT"
    expose_message = True


class IdempotencyConflictError(errors.ConflictError):
    """An ``Idempotency-Key`` was reused with a different request body (409)."""

    code = "IDEMPOTENCY_KEY_REUSED"
    expose_message = True


@dataclasses.dataclass(frozen=True)
class NewMessage:
    source_queue: str
    destination_service: str
    payload: dict[str, Any]
    error_message: str
    error_type: str | None = None
    idempotency_key: str | None = None

    def request_hash(self) -> str:
        body = dataclasses.asdict(self)
        body.pop("idempotency_key")
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Created:
    message: Message
    created: bool
    """False when an earlier request with the same idempotency key already stored it."""


@dataclasses.dataclass(frozen=True)
class MessageFilter:
    """Conditions shared by listing, bulk redrive and bulk resolve; ``None`` means "any"."""

    source_queue: str | None = None
    destination_service: str | None = None
    resolved: bool | None = None
    statuses: tuple[MessageStatus, ...] | None = None
    fingerprint: str | None = None
    created_after: float | None = None
    created_before: float | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.source_queue is not None:
            clauses.append(Message.source_queue == self.source_queue)
        if self.destination_service is not None:
            clauses.append(Message.destination_service == self.destination_service)
        if self.resolved is not None:
            clauses.append(
                Message.status == MessageStatus.RESOLVED
                if self.resolved
                else Message.status != MessageStatus.RESOLVED
            )
        if self.statuses is not None:
            clauses.append(Message.status.in_(self.statuses))
        if self.fingerprint is not None:
            clauses.append(Message.fingerprint == self.fingerprint)
        if self.created_after is not None:
            clauses.append(Message.created_at >= self.created_after)
        if self.created_before is not None:
            clauses.append(Message.created_at < self.created_before)
        return clauses


@dataclasses.dataclass(frozen=True)
class Claim:
    """A message this worker holds for delivery until ``lease_expires_at`` (epoch seconds)."""

    message_id: str
    token: str
    destination_service: str
    payload: dict[str, Any]
    retry_count: int
    lease_expires_at: float


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How one delivery of a claimed message ended (times in epoch seconds and milliseconds)."""

    claim: Claim
    attempted_at: float
    duration_ms: float
    success: bool
    status_code: int | None
    error: str | None
    target_url: str | None
    retry_after: float | None = None
    """The destination's ``Retry-After`` (seconds): the next try is no sooner than this."""


@dataclasses.dataclass(frozen=True)
class Stats:
    depth_by_status: dict[str, int]
    depth_by_service: dict[str, int]
    groups: list[dict[str, Any]]
    oldest_unresolved_age_seconds: float | None
    unresolved: int


class Store:
    """Database access for the DLQ. ``now`` returns UNIX epoch seconds (wall clock, shared by replicas)."""

    def __init__(self, engine: Engine, *, now: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self._now = now
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False)
        self._postgres = engine.dialect.name == "postgresql"

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._write() as session, session.begin():
            yield session

    # -- create ---------------------------------------------------------------------------------

    def create_many(self, items: Sequence[NewMessage], *, initial_delay: float = 0.0) -> list[Created]:
        """Store ``items`` in one transaction; returns only after the commit (the durability point).

        Items whose idempotency key is already stored (or repeated within ``items``) return the stored
        message with ``created=False``. A concurrent insert of the same key loses the race with an
        ``IntegrityError``; the transaction is then replayed once and finds the winner's row.
        """
        try:
            return self._create_many(items, initial_delay)
        except IntegrityError:
            return self._create_many(items, initial_delay)

    def _create_many(self, items: Sequence[NewMessage], initial_delay: float) -> list[Created]:
        now = self._now()
        results: list[Created] = []
        groups: dict[str, tuple[str, str, int]] = {}
        with self._writing() as session:
            keys = {item.idempotency_key for item in items if item.idempotency_key is not None}
            stored: dict[str | None, Message] = {}
            if keys:
                stored = {
                    m.idempotency_key: m
                    for m in session.scalars(select(Message).where(Message.idempotency_key.in_(keys)))
                }
            for item in items:
                digest = item.request_hash()
                earlier = stored.get(item.idempotency_key) if item.idempotency_key is not None else None
                if earlier is not None:
                    if earlier.request_hash != digest:
                        raise IdempotencyConflictError(
                            f"Idempotency-Key {item.idempotency_key!r} was already used with a different "
                            "request body"
                        )
                    results.append(Created(earlier, created=False))
                    continue
                message, normalised = self._new_row(item, digest, now, initial_delay)
                session.add(message)
                if item.idempotency_key is not None:
                    stored[item.idempotency_key] = message
                count = groups.get(message.fingerprint, ("", "", 0))[2]
                groups[message.fingerprint] = (message.error_type, normalised, count + 1)
                results.append(Created(message, created=True))
            session.flush()
            # One upsert per fingerprint, in a fixed order so concurrent batches cannot deadlock.
            for fp in sorted(groups):
                self._bump_group(session, fp, *groups[fp], now)
        return results

    @staticmethod
    def _new_row(item: NewMessage, digest: str, now: float, initial_delay: float) -> tuple[Message, str]:
        error_type = error_type_of(item.error_message, item.error_type)
        fp, normalised = fingerprint(error_type, item.error_message)
        message = Message(
            id=str(uuid.uuid4()),
            source_queue=item.source_queue,
            destination_service=item.destination_service,
            payload=item.payload,
            error_message=item.error_message,
            error_type=error_type,
            fingerprint=fp,
            status=MessageStatus.PENDING,
            created_at=now,
            retry_count=0,
            next_attempt_at=now + initial_delay,
            idempotency_key=item.idempotency_key,
            request_hash=digest,
        )
        return message, normalised

    def _bump_group(
        self, session: Session, fp: str, error_type: str, normalised: str, count: int, now: float
    ) -> None:
        dialect_insert = postgresql.insert if self._postgres else sqlite.insert
        stmt = dialect_insert(FailureGroup).values(
            fingerprint=fp,
            error_type=error_type,
            normalized_message=normalised,
            first_seen=now,
            last_seen=now,
            message_count=count,
            redelivery_failures=0,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[FailureGroup.fingerprint],
            set_={"last_seen": now, "message_count": FailureGroup.message_count + count},
        )
        session.execute(stmt)

    # -- read -----------------------------------------------------------------------------------

    def get(self, message_id: str) -> Message:
        with self._read() as session:
            message = session.scalars(
                select(Message).where(Message.id == message_id).options(selectinload(Message.attempts))
            ).first()
        if message is None:
            raise MessageNotFoundError(f"message {message_id!r} not found")
        return message

    def list_messages(self, where: MessageFilter, *, limit: int, offset: int) -> tuple[int, list[Message]]:
        clauses = where.clauses()
        with self._read() as session:
            total = session.scalar(select(func.count()).select_from(Message).where(*clauses)) or 0
            rows = session.scalars(
                select(Message)
                .where(*clauses)
                .order_by(Message.created_at.desc(), Message.id)
                .offset(offset)
                .limit(limit)
            ).all()
        return total, list(rows)

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self._read() as session:
            session.execute(text("SELECT 1"))

    def stats(self, *, group_limit: int = 50, group_window: float | None = None) -> Stats:
        """Depth by status and service, the largest failure groups and the oldest unresolved age.

        With ``group_window`` each group also reports ``recent``: messages created in that many seconds.
        """
        now = self._now()
        unresolved = Message.status.in_(UNRESOLVED)
        with self._read() as session:
            by_status = {s.value: 0 for s in MessageStatus}
            for status, count in session.execute(
                select(Message.status, func.count()).group_by(Message.status)
            ).all():
                by_status[status.value] = count
            by_service = {
                service: count
                for service, count in session.execute(
                    select(Message.destination_service, func.count())
                    .where(unresolved)
                    .group_by(Message.destination_service)
                ).all()
            }
            depth = func.count(Message.id).label("depth")
            group_rows = session.execute(
                select(FailureGroup, depth)
                .join(
                    Message, and_(Message.fingerprint == FailureGroup.fingerprint, unresolved), isouter=True
                )
                .group_by(FailureGroup.fingerprint)
                .order_by(depth.desc(), FailureGroup.last_seen.desc())
                .limit(group_limit)
            ).all()
            recent: dict[str, int] = {}
            if group_window is not None:
                recent = {
                    fp: count
                    for fp, count in session.execute(
                        select(Message.fingerprint, func.count())
                        .where(Message.created_at >= now - group_window)
                        .group_by(Message.fingerprint)
                    ).all()
                }
            oldest = session.scalar(select(func.min(Message.created_at)).where(unresolved))
        groups = [
            {
                "fingerprint": group.fingerprint,
                "error_type": group.error_type,
                "normalized_message": group.normalized_message,
                "first_seen": group.first_seen,
                "last_seen": group.last_seen,
                "message_count": group.message_count,
                "redelivery_failures": group.redelivery_failures,
                "depth": count,
                **({"recent": recent.get(group.fingerprint, 0)} if group_window is not None else {}),
            }
            for group, count in group_rows
        ]
        return Stats(
            depth_by_status=by_status,
            depth_by_service=by_service,
            groups=groups,
            oldest_unresolved_age_seconds=None if oldest is None else max(0.0, now - oldest),
            unresolved=sum(by_status[s.value] for s in UNRESOLVED),
        )

    # -- operator actions -------------------------------------------------------------------------

    def redrive(self, message_id: str) -> Message:
        """Make one unresolved message due now (a FAILED one gets one more attempt)."""
        now = self._now()
        with self._writing() as session:
            message = self._locked(session, message_id)
            if message.status is MessageStatus.RESOLVED:
                raise MessageStateError(f"message {message_id!r} is already resolved")
            in_flight = message.lease_expires_at is not None and message.lease_expires_at > now
            if not in_flight:
                message.status = MessageStatus.RETRYING
                message.next_attempt_at = now
        return message

    def resolve(self, message_id: str) -> Message:
        """Mark a message resolved by hand (idempotent: resolving twice keeps the first time)."""
        now = self._now()
        with self._writing() as session:
            message = self._locked(session, message_id)
            if message.status is not MessageStatus.RESOLVED:
                message.status = MessageStatus.RESOLVED
                message.resolved_at = now
                message.next_attempt_at = None
        return message

    def bulk(self, where: MessageFilter, *, action: MessageStatus, dry_run: bool, limit: int) -> list[str]:
        """Redrive (``action=RETRYING``) or resolve (``RESOLVED``) up to ``limit`` unresolved matches.

        Returns the ids that moved (or, with ``dry_run``, would move). Redrive skips messages that are
        being delivered right now; their outcome decides what happens next.
        """
        now = self._now()
        clauses = [*where.clauses(), Message.status.in_(UNRESOLVED)]
        if action is MessageStatus.RETRYING:
            clauses.append(or_(Message.lease_expires_at.is_(None), Message.lease_expires_at <= now))
            values: dict[str, Any] = {"status": MessageStatus.RETRYING, "next_attempt_at": now}
        elif action is MessageStatus.RESOLVED:
            values = {"status": MessageStatus.RESOLVED, "resolved_at": now, "next_attempt_at": None}
        else:
            raise ValueError(f"bulk action must be RETRYING or RESOLVED, not {action}")
        pick = select(Message.id).where(*clauses).order_by(Message.created_at).limit(limit)
        if dry_run:
            with self._read() as session:
                return list(session.scalars(pick).all())
        with self._writing() as session:
            ids = list(session.scalars(pick.with_for_update(skip_locked=True) if self._postgres else pick))
            if ids:
                session.execute(
                    update(Message).where(Message.id.in_(ids), *clauses).values(**values),
                    execution_options={"synchronize_session": False},
                )
        return ids

    def _locked(self, session: Session, message_id: str) -> Message:
        message = session.scalars(select(Message).where(Message.id == message_id).with_for_update()).first()
        if message is None:
            raise MessageNotFoundError(f"message {message_id!r} not found")
        return message

    # -- redelivery -------------------------------------------------------------------------------

    def claim_due(self, *, limit: int, lease_seconds: float) -> list[Claim]:
        """Atomically claim up to ``limit`` due messages for ``lease_seconds``; see the module doc."""
        now = self._now()
        token = str(uuid.uuid4())
        claimable = (
            Message.status.in_(DELIVERABLE),
            Message.next_attempt_at <= now,
            or_(Message.lease_expires_at.is_(None), Message.lease_expires_at <= now),
        )
        due = select(Message.id).where(*claimable).order_by(Message.next_attempt_at).limit(limit)
        if self._postgres:
            due = due.with_for_update(skip_locked=True)
        with self._writing() as session:
            session.execute(
                update(Message)
                .where(Message.id.in_(due.scalar_subquery()), *claimable)
                .values(
                    claim_token=token, lease_expires_at=now + lease_seconds, status=MessageStatus.RETRYING
                ),
                execution_options={"synchronize_session": False},
            )
            rows = session.execute(
                select(Message.id, Message.destination_service, Message.payload, Message.retry_count).where(
                    Message.claim_token == token
                )
            ).all()
        return [
            Claim(
                message_id=row.id,
                token=token,
                destination_service=row.destination_service,
                payload=row.payload,
                retry_count=row.retry_count,
                lease_expires_at=now + lease_seconds,
            )
            for row in rows
        ]

    def finish(
        self,
        outcomes: Sequence[Outcome],
        *,
        max_attempts: int,
        next_delay: Callable[[int], float],
    ) -> list[MessageStatus | None]:
        """Record a batch of delivery attempts in one transaction; per outcome, the new status.

        ``None`` means the claim was lost (the lease expired and another worker claimed the message),
        and nothing is recorded for it. Success resolves. A failure increments ``retry_count``; at
        ``max_attempts`` the message is FAILED, otherwise it is due again after
        ``next_delay(retry_count)`` seconds, or the outcome's ``retry_after`` if that is longer. A
        message an operator resolved meanwhile stays resolved.
        """
        now = self._now()
        statuses: list[MessageStatus | None] = []
        failures: Counter[str] = Counter()
        with self._writing() as session:
            ids = sorted({o.claim.message_id for o in outcomes})
            rows = {
                m.id: m
                for m in session.scalars(
                    select(Message).where(Message.id.in_(ids)).order_by(Message.id).with_for_update()
                )
            }
            for outcome in outcomes:
                message = rows.get(outcome.claim.message_id)
                if message is None or message.claim_token != outcome.claim.token:
                    statuses.append(None)
                    continue
                self._apply(session, message, outcome, now, max_attempts, next_delay)
                if not outcome.success:
                    failures[message.fingerprint] += 1
                statuses.append(message.status)
            for fp in sorted(failures):
                session.execute(
                    update(FailureGroup)
                    .where(FailureGroup.fingerprint == fp)
                    .values(redelivery_failures=FailureGroup.redelivery_failures + failures[fp])
                )
        return statuses

    @staticmethod
    def _apply(
        session: Session,
        message: Message,
        outcome: Outcome,
        now: float,
        max_attempts: int,
        next_delay: Callable[[int], float],
    ) -> None:
        session.add(
            Attempt(
                message_id=message.id,
                attempted_at=outcome.attempted_at,
                duration_ms=outcome.duration_ms,
                outcome=AttemptOutcome.SUCCESS if outcome.success else AttemptOutcome.FAILURE,
                status_code=outcome.status_code,
                error=outcome.error,
                target_url=outcome.target_url,
            )
        )
        message.claim_token = None
        message.lease_expires_at = None
        message.retry_count += 1
        message.last_retry_at = outcome.attempted_at
        if message.status is MessageStatus.RESOLVED:
            return
        if outcome.success:
            message.status = MessageStatus.RESOLVED
            message.resolved_at = now
            message.next_attempt_at = None
            return
        message.last_error = outcome.error
        if message.retry_count >= max_attempts:
            message.status = MessageStatus.FAILED
            message.next_attempt_at = None
        else:
            message.status = MessageStatus.RETRYING
            message.next_attempt_at = now + max(next_delay(message.retry_count), outcome.retry_after or 0.0)
