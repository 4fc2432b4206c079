"""Calendar states and sync requests

Calendars move between active, backing_off, needs_reconnect (with a reason) and
disabled (service.sync.states); `error` becomes needs_reconnect and
`disconnected` disabled. Webhooks request syncs by inserting sync_requests
rows instead of updating the calendar row a worker may hold locked; a calendar
that was dirty gets one request.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_requests",
        sa.Column("id", service.db.types.BigIntPK, autoincrement=True, nullable=False),
        sa.Column("calendar_id", sa.BigInteger(), nullable=False),
        sa.Column("requested_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"], ["calendars.id"], name=op.f("fk_sync_requests_calendar_id_calendars"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_requests")),
    )
    op.create_index("ix_sync_requests_calendar_id_id", "sync_requests", ["calendar_id", "id"], unique=False)
    op.execute(
        "INSERT INTO sync_requests (calendar_id, requested_at) "
        "SELECT id, COALESCE(last_notified_at, updated_at) FROM calendars WHERE dirty"
    )
    with op.batch_alter_table("calendars", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_reason", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("failing_since", service.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("channel_retry_at", service.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("channel_failures", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_index("ix_calendars_due")
        batch_op.create_index("ix_calendars_due", ["status", "next_poll_at"], unique=False)
        batch_op.drop_column("dirty")
        batch_op.drop_column("dirty_generation")
        batch_op.drop_column("last_notified_at")
    op.execute("UPDATE calendars SET status = 'needs_reconnect', status_reason = 'forbidden' WHERE status = 'error'")
    op.execute("UPDATE calendars SET status = 'disabled', status_reason = 'disconnected' WHERE status = 'disconnected'")


def downgrade() -> None:
    op.execute("UPDATE calendars SET status = 'error' WHERE status IN ('needs_reconnect', 'backing_off')")
    op.execute("UPDATE calendars SET status = 'disconnected' WHERE status = 'disabled'")
    with op.batch_alter_table("calendars", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_notified_at", service.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("dirty_generation", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("dirty", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.drop_index("ix_calendars_due")
        batch_op.create_index("ix_calendars_due", ["dirty", "next_poll_at"], unique=False)
        batch_op.drop_column("channel_failures")
        batch_op.drop_column("channel_retry_at")
        batch_op.drop_column("failing_since")
        batch_op.drop_column("status_reason")
    op.execute("UPDATE calendars SET dirty = true WHERE id IN (SELECT calendar_id FROM sync_requests)")
    op.drop_index("ix_sync_requests_calendar_id_id", table_name="sync_requests")
    op.drop_table("sync_requests")
