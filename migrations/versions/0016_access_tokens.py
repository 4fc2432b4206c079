"""access_tokens: provider access tokens shared by the worker processes

Google mints a domain-wide-delegation token per user; each worker process minted
its own, so two workers took two tokens an hour for every user (0.3 of the 3
provider calls a calendar change cost at 10,000 calendars). Encrypted like grants.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 19:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db.types


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_tokens',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('token_encrypted', sa.Text(), nullable=False),
    sa.Column('expires_at', service.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_access_tokens'))
    )
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_tokens_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_tokens_expires_at'))
    op.drop_table('access_tokens')
