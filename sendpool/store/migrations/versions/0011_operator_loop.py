"""Limits with one truth: a rebalancing ceiling, the vendor's own limit, what the pool file set

Revision ID: 0011_operator_loop
Revises: 0010_webhooks
Create Date: 2026-12-05 10:00:00.000000

``sending_servers.rebalance_ceiling``: the rebalancer never raises
``sending_limit`` above it (NULL: no ceiling of the operator's).
``sending_servers.vendor_daily_limit``: the sending limit the vendor itself
reports (SES ``Max24HourSend``), read by the server's health check; the
rebalancer never goes past it either.
``sending_servers.pool_applied`` and ``plans.pool_applied``: the fields (and,
for a plan, the servers) as the last ``sendpool pool apply`` left them, so a
later apply can tell a change made elsewhere (drift) from one of the file's.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_operator_loop"
down_revision: str | None = "0010_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns are an ALTER TABLE on both SQLite and PostgreSQL: no table copy.
    op.add_column("sending_servers", sa.Column("rebalance_ceiling", sa.Integer(), nullable=True))
    op.add_column("sending_servers", sa.Column("vendor_daily_limit", sa.Integer(), nullable=True))
    op.add_column("sending_servers", sa.Column("pool_applied", sa.JSON(), nullable=True))
    op.add_column("plans", sa.Column("pool_applied", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+): batch mode would copy the table, and SQLite
    # refuses to copy into the generated name_key columns (0005).
    op.drop_column("plans", "pool_applied")
    op.drop_column("sending_servers", "pool_applied")
    op.drop_column("sending_servers", "vendor_daily_limit")
    op.drop_column("sending_servers", "rebalance_ceiling")
