"""Provider groups, each server's limits to a group, and their rate state

Revision ID: 0013_provider_limits
Revises: 0012_plan_weights
Create Date: 2026-12-02 10:00:00.000000

``provider_groups``: the operator's groups from the pool file's
``[[provider_groups]]`` (the shipped ones are code); ``domains`` and ``mx``
are JSON lists. ``provider_limits``: per server x group (by name, shipped or
the operator's), messages per second with a burst, connections at once, and
messages per connection; NULL is no limit; the rows go with their server.
``provider_rate_state``: the SQL ledger's GCRA state per server x group, like
``rate_state`` per server.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_provider_limits"
down_revision: str | None = "0012_plan_weights"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "provider_groups",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("mx", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_provider_groups"),
        sa.UniqueConstraint("name", name="uq_provider_groups_name"),
    )
    op.create_table(
        "provider_limits",
        sa.Column("server_id", BigId, nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("rate_per_second", sa.Float(), nullable=True),
        sa.Column("burst", sa.Float(), nullable=True),
        sa.Column("max_connections", sa.Integer(), nullable=True),
        sa.Column("messages_per_connection", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["sending_servers.id"],
            name="fk_provider_limits_server_id_sending_servers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("server_id", "group_name", name="pk_provider_limits"),
    )
    op.create_table(
        "provider_rate_state",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("server_id", "group_name", name="pk_provider_rate_state"),
    )


def downgrade() -> None:
    op.drop_table("provider_rate_state")
    op.drop_table("provider_limits")
    op.drop_table("provider_groups")
