"""Retention: an index of settled messages by settle time

Revision ID: 0018_retention
Revises: 0017_recipient_search
Create Date: 2026-12-02 06:00:00.000000

``ix_messages_settled_at`` (updated_at, id), partial on the settled states, is
what retention reads: each batch is one range of it, from where the last
batch stopped, so deleting a day of messages reads that day's entries and no
pending row. On a large PostgreSQL table, build it first without blocking
writes (``CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_messages_settled_at ON
messages (updated_at, id) WHERE status IN ('failed','sent')``): this
migration then finds it there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_retention"
down_revision: str | None = "0017_recipient_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTLED = sa.text("status IN ('failed','sent')")


def upgrade() -> None:
    op.create_index(
        "ix_messages_settled_at",
        "messages",
        ["updated_at", "id"],
        sqlite_where=SETTLED,
        postgresql_where=SETTLED,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_settled_at", table_name="messages", if_exists=True)
