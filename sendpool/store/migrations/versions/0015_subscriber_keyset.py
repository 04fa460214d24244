"""An index on subscribers (list_id, id): a launch reads each batch from its cursor

Revision ID: 0015_subscriber_keyset
Revises: 0014_backoffs
Create Date: 2026-12-02 06:00:00.000000

A launch queues a list in id order, a batch at a time, from the cursor kept on
the campaign. With only the (list_id, email_key) key to go by, each batch read
and sorted the whole list to find its next few thousand ids, so a launch cost
grew with the square of the list; on this index a batch reads only its rows.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_subscriber_keyset"
down_revision: str | None = "0014_backoffs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_subscribers_list_id_id", "subscribers", ["list_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_subscribers_list_id_id", table_name="subscribers")
