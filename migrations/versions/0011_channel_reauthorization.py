"""push_channels.reauthorize_requested_at: an unanswered reauthorization challenge

Graph's `reauthorizationRequired` lifecycle notification used to mark the
channel expired, so the upkeep opened a new subscription and left the old one
at Graph (it looked expired). The challenge is now recorded here and answered
with POST /subscriptions/{id}/reauthorize, keeping the subscription.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 15:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db.types


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('push_channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reauthorize_requested_at', service.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('push_channels', schema=None) as batch_op:
        batch_op.drop_column('reauthorize_requested_at')
