"""An index on calendars (provider, provider_user_id)

Graph mailboxes are addressed by the owner's immutable Entra object id once it is
resolved (GET /users/{address} at an org calendar's baseline, GET /me when a person
connects); calendars are looked up by it (e.g. a notification for a subscription
we no longer know names its user by id). Existing rows are resolved at their
next baseline.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calendars", schema=None) as batch_op:
        batch_op.create_index("ix_calendars_provider_user", ["provider", "provider_user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calendars", schema=None) as batch_op:
        batch_op.drop_index("ix_calendars_provider_user")
