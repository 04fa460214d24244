"""messages.attempts_here: how many of a message's attempts its named server made

Revision ID: 0008_attempts_here
Revises: 0007_server_smtputf8
Create Date: 2026-12-03 10:00:00.000000

A ledger rebuilt from the rows (store/recount.py) charged every earlier
attempt of a retried message to every server, because a row names only its
last server. Counting the attempts made on that server lets the rebuild
charge them there, and only the rest everywhere. Rows from before count one
attempt on their server, as the rebuild assumed until now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_attempts_here"
down_revision: str | None = "0007_server_smtputf8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column("attempts_here", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("UPDATE messages SET attempts_here = 1 WHERE server_id IS NOT NULL AND attempts > 0")


def downgrade() -> None:
    op.drop_column("messages", "attempts_here")
