"""The return path: bounce domains, paused servers, and events that say what they are about

Revision ID: 0009_return_path
Revises: 0008_attempts_here
Create Date: 2026-12-03 11:00:00.000000

Reports that come back after a send (DSNs, feedback reports, vendor events)
become delivery events tied to a message, a recipient and the original send
time, recorded once however often a report arrives (``dedup_key``). A server
can be paused with the reason in words; a suppression says what caused it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sendpool.store.types import UTCDateTime

revision: str = "0009_return_path"
down_revision: str | None = "0008_attempts_here"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EVENT_COLUMNS = (
    ("customer_id", sa.BigInteger()),
    ("recipient", sa.String(320)),
    ("status_code", sa.String(16)),
    ("source", sa.String(64)),
    ("reported_by", sa.String(255)),
    ("sent_at", UTCDateTime()),
    ("dedup_key", sa.String(64)),
)


def upgrade() -> None:
    # Nullable columns: an ALTER TABLE on SQLite and PostgreSQL alike, no table copy.
    op.add_column("sending_servers", sa.Column("bounce_domain", sa.String(253), nullable=True))
    op.add_column("sending_servers", sa.Column("status_reason", sa.Text(), nullable=True))
    op.add_column("suppressions", sa.Column("kind", sa.String(16), nullable=True))
    for name, type_ in _EVENT_COLUMNS:
        op.add_column("delivery_events", sa.Column(name, type_, nullable=True))
    op.create_index("ix_delivery_events_server_sent", "delivery_events", ["server_id", "sent_at"])
    op.create_index("ix_delivery_events_message", "delivery_events", ["message_id"])
    op.create_index("ix_delivery_events_dedup", "delivery_events", ["dedup_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_delivery_events_dedup", "delivery_events")
    op.drop_index("ix_delivery_events_message", "delivery_events")
    op.drop_index("ix_delivery_events_server_sent", "delivery_events")
    for name, _type in reversed(_EVENT_COLUMNS):
        op.drop_column("delivery_events", name)
    op.drop_column("suppressions", "kind")
    op.drop_column("sending_servers", "status_reason")
    op.drop_column("sending_servers", "bounce_domain")
