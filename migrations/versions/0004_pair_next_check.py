"""pairs.next_check_at: when the detector must look at a pair again with no calendar change

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 20:30:00
"""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

import service.db.types


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pairs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_check_at', service.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_pairs_next_check_at'), ['next_check_at'], unique=False)
    # Existing pairs are due at once: the first periodic pass computes their boundary.
    pairs = sa.table('pairs', sa.column('next_check_at', service.db.types.UTCDateTime(timezone=True)))
    op.execute(pairs.update().values(next_check_at=datetime(1970, 1, 1, tzinfo=timezone.utc)))


def downgrade() -> None:
    with op.batch_alter_table('pairs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pairs_next_check_at'))
        batch_op.drop_column('next_check_at')
