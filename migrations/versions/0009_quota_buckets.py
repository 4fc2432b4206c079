"""Token buckets of provider calls shared by the workers

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_buckets",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refreshed", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_quota_buckets")),
    )


def downgrade() -> None:
    op.drop_table("quota_buckets")
