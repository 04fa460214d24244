"""Adaptive back-off: operator rules, state per server x provider group, hits, sends per minute

Revision ID: 0014_backoffs
Revises: 0013_provider_limits
Create Date: 2026-12-02 10:00:00.000000

``backoff_rules``: the pool file's ``[[backoff_rules]]``, in the file's order,
replaced as a whole by each apply. ``backoffs``: one row per server x provider
group, its engaged back-off when ``factor`` is set; ``ends_at`` (indexed) is when
it has fully recovered, so loading the active ones reads only those. The row is
what a write-back locks while it judges the group's hits, so a count "N hits in
a window" is exact across workers. ``backoff_hits``: matching deferrals, pruned
past the longest window. ``backoff_sends``: accepted messages per server x group
per minute, pruned after a few minutes: the rate a group with no configured rate
was sending at, read without touching the messages table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sendpool.store.types import UTCDateTime

revision: str = "0014_backoffs"
down_revision: str | None = "0013_provider_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "backoff_rules",
        sa.Column("id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("enhanced", sa.String(16), nullable=True),
        sa.Column("pattern", sa.Text(), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("window_seconds", sa.Float(), nullable=False),
        sa.Column("factor", sa.Float(), nullable=False),
        sa.Column("hold_seconds", sa.Float(), nullable=False),
        sa.Column("recover_step", sa.Float(), nullable=False),
        sa.Column("recover_every_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backoff_rules"),
    )
    op.create_table(
        "backoffs",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("factor", sa.Float(), nullable=True),
        sa.Column("engaged_at", UTCDateTime(), nullable=True),
        sa.Column("hold_until", UTCDateTime(), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=True),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("recover_step", sa.Float(), nullable=True),
        sa.Column("recover_every_seconds", sa.Float(), nullable=True),
        sa.Column("base_rate", sa.Float(), nullable=True),
        sa.Column("rule", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("server_id", "group_name", name="pk_backoffs"),
    )
    op.create_index("ix_backoffs_ends_at", "backoffs", ["ends_at"])
    op.create_table(
        "backoff_hits",
        sa.Column("id", BigId, nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backoff_hits"),
    )
    op.create_index(
        "ix_backoff_hits_key", "backoff_hits", ["server_id", "group_name", "rule", "at"]
    )
    op.create_table(
        "backoff_sends",
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("server_id", "group_name", "minute", name="pk_backoff_sends"),
    )


def downgrade() -> None:
    op.drop_table("backoff_sends")
    op.drop_index("ix_backoff_hits_key", table_name="backoff_hits")
    op.drop_table("backoff_hits")
    op.drop_index("ix_backoffs_ends_at", table_name="backoffs")
    op.drop_table("backoffs")
    op.drop_table("backoff_rules")
