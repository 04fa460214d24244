"""Weighted rotation and warm-up by share: weights per plan attachment (filled in by its change)

Revision ID: 0012_plan_weights
Revises: 0011_operator_loop
"""

from __future__ import annotations

revision = "0012_plan_weights"
down_revision = "0011_operator_loop"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
