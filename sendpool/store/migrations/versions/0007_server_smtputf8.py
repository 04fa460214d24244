"""sending_servers.smtputf8: whether a server's EHLO offered SMTPUTF8 at its last check

Revision ID: 0007_server_smtputf8
Revises: 0006_message_reservations
Create Date: 2026-12-02 10:00:00.000000

Servers start unknown (NULL): a message with a non-ASCII local part waits
until a check has said what a server offers, and the health checker checks
every server whose answer is still unknown (docs/design.md §1.6).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_server_smtputf8"
down_revision: str | None = "0006_message_reservations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column is an ALTER TABLE on both SQLite and PostgreSQL: no table copy.
    op.add_column("sending_servers", sa.Column("smtputf8", sa.Boolean(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): batch mode would copy the table, and
    # SQLite refuses to copy into its generated name_key column (0005).
    op.drop_column("sending_servers", "smtputf8")
