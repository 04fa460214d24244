"""Weighted rotation: a weight per plan attachment

Revision ID: 0012_plan_weights
Revises: 0011_operator_loop
Create Date: 2026-12-02 10:00:00.000000

``plan_servers.weight``: the server's share in the plan's smooth weighted
rotation (core/selectors/smooth_weighted.py), 1 to 1000, checked where it
comes in (the pool file and the API). The same server can weigh 3 in one
plan and 1 in another, so the weight belongs to the attachment, not to the
server. Existing attachments weigh 1, which is what round-robin deals.
A plan's selector was already a column (``plans.selector``), and a warm-up by
share lives in the server's warm-up JSON beside its daily cap, so neither
needs a column here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_plan_weights"
down_revision: str | None = "0011_operator_loop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NOT NULL with a server default is an ALTER TABLE on SQLite and PostgreSQL alike.
    op.add_column(
        "plan_servers",
        sa.Column("weight", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), as in 0011.
    op.drop_column("plan_servers", "weight")
