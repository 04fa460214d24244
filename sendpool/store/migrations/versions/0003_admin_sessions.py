"""admin sessions kept server-side; sign-in failure counters per account and client address

Revision ID: 0003_admin_sessions
Revises: 0002_message_hold
Create Date: 2026-12-01 16:00:00.000000

Sessions made before this revision lived in signed cookies only; those cookies
name no stored session, so every admin signs in once more after the upgrade.
The old per-account lock (``admin_users.locked_until``) is no longer read.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sendpool.store.types

revision: str = "0003_admin_sessions"
down_revision: str | None = "0002_message_hold"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("admin_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("revoked_at", sendpool.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admin_users.id"],
            name=op.f("fk_admin_sessions_admin_id_admin_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_sessions_token_hash")),
    )
    op.create_index("ix_admin_sessions_admin_id", "admin_sessions", ["admin_id"])
    op.create_index("ix_admin_sessions_expires_at", "admin_sessions", ["expires_at"])
    op.create_table(
        "signin_counters",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", sendpool.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "scope", "account", "client_address", name=op.f("pk_signin_counters")
        ),
    )


def downgrade() -> None:
    op.drop_table("signin_counters")
    op.drop_index("ix_admin_sessions_expires_at", table_name="admin_sessions")
    op.drop_index("ix_admin_sessions_admin_id", table_name="admin_sessions")
    op.drop_table("admin_sessions")
