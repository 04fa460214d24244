"""The message log's search by recipient reads an index: customer, folded address, id.

PostgreSQL: ``lower(recipient)`` with ``text_pattern_ops``, so a prefix is a
byte-wise range (``~>=~`` / ``~<~``) whatever the database's collation, and an
exact address is an equality on it. SQLite: ``recipient COLLATE NOCASE``, a
plain column to its reflection, folded the way ``lower()`` folds (ASCII).

The old case-sensitive ``ix_messages_recipient`` goes: nothing reads it any
more, and a random-keyed index over every message costs each launch a page
write per message once it outgrows the cache.

Revision ID: 0017_recipient_search
Revises: 0016_rollups
Create Date: 2026-12-02 06:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_recipient_search"
down_revision: str | None = "0016_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_messages_customer_recipient"


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_messages_recipient")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {NAME} ON messages"
            " (customer_id, lower(recipient) text_pattern_ops, id)"
        )
    else:
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {NAME} ON messages"
            " (customer_id, recipient COLLATE NOCASE, id)"
        )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {NAME}")
    op.execute("CREATE INDEX IF NOT EXISTS ix_messages_recipient ON messages (recipient)")
