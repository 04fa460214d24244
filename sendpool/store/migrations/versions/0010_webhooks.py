"""Vendor webhooks: receipts per server, one-time tokens, unmatched events, vendor ids

Revision ID: 0010_webhooks
Revises: 0009_return_path
Create Date: 2026-12-04 10:00:00.000000

A vendor (SES through SNS, Mailgun, Postmark, SendGrid) reports bounces,
complaints and deferrals by webhook, naming the message by the id sendpool gave
it and by the vendor's own id, kept at send in ``messages.remote_id``: an index
on (server, remote id) finds it. What a server last received is kept for the
operator (a refused request writes nothing); a signed one-time token is kept until it could no longer verify, so a
replay is refused; an event no message matches is kept apart, counted nowhere.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sendpool.store.types import UTCDateTime

revision: str = "0010_webhooks"
down_revision: str | None = "0009_return_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_server_remote", "messages", ["server_id", "remote_id"])
    op.create_table(
        "webhook_receipts",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("last_event_at", UTCDateTime(), nullable=True),
        sa.Column("last_event", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("server_id", name="pk_webhook_receipts"),
    )
    op.create_table(
        "webhook_replays",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_webhook_replays"),
    )
    op.create_index("ix_webhook_replays_expires_at", "webhook_replays", ["expires_at"])
    op.create_table(
        "webhook_unmatched",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("vendor", sa.String(16), nullable=False),
        sa.Column("event_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("our_id", sa.String(64), nullable=True),
        sa.Column("vendor_message_id", sa.String(255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_unmatched"),
        sa.UniqueConstraint("server_id", "event_key", name="uq_webhook_unmatched_server_id"),
    )
    op.create_index("ix_webhook_unmatched_received_at", "webhook_unmatched", ["received_at"])


def downgrade() -> None:
    op.drop_table("webhook_unmatched")
    op.drop_table("webhook_replays")
    op.drop_table("webhook_receipts")
    op.drop_index("ix_messages_server_remote", table_name="messages")
