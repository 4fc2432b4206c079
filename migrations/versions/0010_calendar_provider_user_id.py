"""calendars.provider_user_id: the provider's immutable id of the calendar's owner

Google's Directory user id (connect-all with --admin-email stores it with the
owner's primary address as external_id): a renamed user is found again by it.
Null on calendars connected before, and on those connected without a directory.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calendars', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider_user_id', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('calendars', schema=None) as batch_op:
        batch_op.drop_column('provider_user_id')
