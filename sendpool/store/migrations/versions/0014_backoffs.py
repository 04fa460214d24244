"""Adaptive back-off: rules' state per server x provider group (filled in by its change)

Revision ID: 0014_backoffs
Revises: 0013_provider_limits
"""

from __future__ import annotations

revision = "0014_backoffs"
down_revision = "0013_provider_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
