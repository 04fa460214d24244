"""Provider groups and per server x group limits (filled in by its change)

Revision ID: 0013_provider_limits
Revises: 0012_plan_weights
"""

from __future__ import annotations

revision = "0013_provider_limits"
down_revision = "0012_plan_weights"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
