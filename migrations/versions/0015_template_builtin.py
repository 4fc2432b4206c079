"""templates.builtin: the templates shipped with the service, protected from edits

Templates can now be edited and deleted by their creator or an admin; the built-in
ones (seeded by 0002) are marked so they are never changed: copy one instead.
`created_by` null alone cannot tell them apart, since it is also what a template
keeps when its creator is deleted.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

SEEDED = "30-minute 1:1"  # 0002_seed_templates


def upgrade() -> None:
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('builtin', sa.Boolean(), server_default=sa.false(), nullable=False))
    templates = sa.table('templates', sa.column('name', sa.String(200)), sa.column('created_by', sa.BigInteger()),
                         sa.column('builtin', sa.Boolean()))
    op.execute(
        templates.update()
        .where(templates.c.name == SEEDED, templates.c.created_by.is_(None))
        .values(builtin=True)
    )


def downgrade() -> None:
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_column('builtin')
