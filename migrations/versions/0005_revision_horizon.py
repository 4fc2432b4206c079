"""event_revisions.horizon: how far in time a revision's state reaches

A recompute reads only the events with a state reaching its window; rows written
before this column existed stay null and are always read.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 05:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db.types


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('event_revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('horizon', service.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('event_revisions', schema=None) as batch_op:
        batch_op.drop_column('horizon')
