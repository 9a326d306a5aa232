"""Delivery ledger: an index by workspace and creation time (with source and state) for the board's
journeys and broadcasts chart

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_delivery_created", "delivery", ["workspace_id", "created_at", "source", "status"])


def downgrade() -> None:
    op.drop_index("ix_delivery_created", table_name="delivery")
