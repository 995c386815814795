"""Initial DLQ schema: messages, delivery attempts, failure groups.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_lettered_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("source_queue", sa.String(255), nullable=False),
        sa.Column("destination_service", sa.String(255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("error_type", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("last_retry_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.Double(), nullable=True),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.Column("lease_expires_at", sa.Double(), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
    )
    op.create_index("ix_dead_lettered_messages_source_queue", "dead_lettered_messages", ["source_queue"])
    op.create_index(
        "ix_dead_lettered_messages_destination_service", "dead_lettered_messages", ["destination_service"]
    )
    op.create_index("ix_dead_lettered_messages_fingerprint", "dead_lettered_messages", ["fingerprint"])
    op.create_index("ix_dlq_messages_due", "dead_lettered_messages", ["status", "next_attempt_at"])
    op.create_index("ix_dlq_messages_created", "dead_lettered_messages", ["created_at"])

    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "message_id",
            sa.String(36),
            sa.ForeignKey("dead_lettered_messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("attempted_at", sa.Double(), nullable=False),
        sa.Column("duration_ms", sa.Double(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("target_url", sa.String(2048), nullable=True),
    )
    op.create_index("ix_delivery_attempts_message_id", "delivery_attempts", ["message_id"])

    op.create_table(
        "failure_groups",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("error_type", sa.String(255), nullable=False),
        sa.Column("normalized_message", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.Double(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("redelivery_failures", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("failure_groups")
    op.drop_index("ix_delivery_attempts_message_id", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_table("dead_lettered_messages")
