"""reservations tied to messages, and the server to retry first after an unknown outcome

A worker writes the unit it reserved for a message before sending it, and
marks the message handed over just before a transport gets it. A crash leaves
both behind: the next claim returns the unit of a message never handed over,
and keeps a handed-over one's unit spent. ``retry_server_id`` names the
server whose reply was lost after the message's body went out (RFC 1047).

Revision ID: 0006_message_reservations
Revises: 0005_unique_names
Create Date: 2026-12-01 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sendpool.store.types

revision: str = "0006_message_reservations"
down_revision: str | None = "0005_unique_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_COLUMNS = ("reserved_server_id", "reserved_at", "handed_at", "retry_server_id")


def upgrade() -> None:
    # Nullable columns: an ALTER TABLE on SQLite and PostgreSQL alike, no table copy.
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("reserved_server_id", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("reserved_at", sendpool.store.types.UTCDateTime(), nullable=True)
        )
        batch.add_column(sa.Column("handed_at", sendpool.store.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("retry_server_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
