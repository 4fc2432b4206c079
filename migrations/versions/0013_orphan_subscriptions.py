"""orphan_subscriptions: Graph subscriptions that notify us but are not ours on record

A notification for an unknown subscription was answered 403, which Graph
retries for up to 4 hours, for as long as the subscription lives. It is now
acknowledged (202) and recorded here, for the workers' upkeep to delete it at
Graph with a grant that can.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 17:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db.types


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('orphan_subscriptions',
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('subscription_id', sa.String(length=300), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=True),
    sa.Column('user', sa.String(length=320), nullable=True),
    sa.Column('seen_at', service.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', service.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_at', service.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orphan_subscriptions')),
    sa.UniqueConstraint('subscription_id', name=op.f('uq_orphan_subscriptions_subscription_id'))
    )
    with op.batch_alter_table('orphan_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orphan_subscriptions_done_at'), ['done_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('orphan_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orphan_subscriptions_done_at'))
    op.drop_table('orphan_subscriptions')
