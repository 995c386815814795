"""The DLQ's tables as SQLAlchemy 2.0 typed ORM classes.

Timestamps are UNIX epoch seconds (floats) as in the seed's responses; they come from the wall clock
because several replicas compare them. The schema itself is created by the Alembic migrations in
``migrations/``; these classes must match them (a test compares the two).
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, Double, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Attempt", "AttemptOutcome", "Base", "FailureGroup", "Message", "MessageStatus"]


class MessageStatus(enum.Enum):
    """Lifecycle: PENDING -> RETRYING -> RESOLVED | FAILED; an operator may redrive FAILED again."""

    PENDING = "PENDING"
    RETRYING = "RETRYING"
    RESOLVED = "RESOLVED"
    FAILED = "FAILED"


UNRESOLVED = (MessageStatus.PENDING, MessageStatus.RETRYING, MessageStatus.FAILED)
DELIVERABLE = (MessageStatus.PENDING, MessageStatus.RETRYING)


class AttemptOutcome(enum.Enum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class Base(DeclarativeBase):
    pass


def _status_type() -> Enum:
    return Enum(MessageStatus, native_enum=False, length=16, validate_strings=True, create_constraint=False)


class Message(Base):
    __tablename__ = "dead_lettered_messages"
    __table_args__ = (
        Index("ix_dlq_messages_due", "status", "next_attempt_at"),
        Index("ix_dlq_messages_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_queue: Mapped[str] = mapped_column(String(255), index=True)
    destination_service: Mapped[str] = mapped_column(String(255), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    error_message: Mapped[str] = mapped_column(Text)
    error_type: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[MessageStatus] = mapped_column(_status_type())
    created_at: Mapped[float] = mapped_column(Double)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    last_retry_at: Mapped[float | None] = mapped_column(Double)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[float | None] = mapped_column(Double)
    resolved_at: Mapped[float | None] = mapped_column(Double)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[float | None] = mapped_column(Double)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))

    attempts: Mapped[list[Attempt]] = relationship(
        back_populates="message", order_by="Attempt.id", cascade="all, delete-orphan"
    )

    @property
    def resolved(self) -> bool:
        return self.status is MessageStatus.RESOLVED


class Attempt(Base):
    """One redelivery attempt: when, how it ended, and why it failed."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(
        ForeignKey("dead_lettered_messages.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[float] = mapped_column(Double)
    duration_ms: Mapped[float] = mapped_column(Double)
    outcome: Mapped[AttemptOutcome] = mapped_column(
        Enum(AttemptOutcome, native_enum=False, length=16, create_constraint=False)
    )
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    target_url: Mapped[str | None] = mapped_column(String(2048))

    message: Mapped[Message] = relationship(back_populates="attempts")


class FailureGroup(Base):
    """Messages grouped by error fingerprint, with first/last seen and counts."""

    __tablename__ = "failure_groups"

    fingerprint: Mapped[str] = mapped_column(String(32), primary_key=True)
    error_type: Mapped[str] = mapped_column(String(255))
    normalized_message: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[float] = mapped_column(Double)
    last_seen: Mapped[float] = mapped_column(Double)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    redelivery_failures: Mapped[int] = mapped_column(Integer, default=0)
