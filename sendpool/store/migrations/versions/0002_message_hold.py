"""messages.hold: why a queued message is held back (its campaign paused); campaigns done stored

Revision ID: 0002_message_hold
Revises: 0001_initial
Create Date: 2026-11-28 10:00:00.000000

Messages held before this revision need no marking: a held message is claimed
again every few seconds and held anew, with the mark, while its campaign stays paused.

``done`` is stored from this revision on (the write-back that settles a
campaign's last message sets it); campaigns that finished before are marked
here, as the reports used to work it out: sending, and nothing pending.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_message_hold"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding a nullable column is an ALTER TABLE on both SQLite and PostgreSQL: no table copy.
    op.add_column("messages", sa.Column("hold", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE campaigns SET status = 'done' WHERE status = 'sending' AND NOT EXISTS ("
        "SELECT 1 FROM messages m WHERE m.campaign_id = campaigns.id "
        "AND m.status IN ('queued', 'deferred', 'sending'))"
    )


def downgrade() -> None:
    op.drop_column("messages", "hold")
    # Before this revision a finished campaign stayed 'sending' and was read as done.
    op.execute("UPDATE campaigns SET status = 'sending' WHERE status = 'done'")
