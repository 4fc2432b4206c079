"""seed the built-in agenda template "30-minute 1:1"

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-02 09:00:00
"""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

import service.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME = "30-minute 1:1"
# Fixed, so every database seeded by this revision holds the same row.
CREATED_AT = datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)

# Frozen copy of the table as of this revision (data migrations never import models).
templates = sa.table(
    "templates",
    sa.column("name", sa.String(200)),
    sa.column("description", sa.Text()),
    sa.column("sections", sa.JSON()),
    sa.column("created_by", sa.BigInteger()),
    sa.column("created_at", service.db.types.UTCDateTime(timezone=True)),
    sa.column("updated_at", service.db.types.UTCDateTime(timezone=True)),
)

SECTIONS = [
    {"title": "Opening", "minutes": 5,
     "prompts": ["How are you, really?", "Anything on your mind before we start?"]},
    {"title": "Progress", "minutes": 10,
     "prompts": ["What went well since last time?", "Where are you blocked?"]},
    {"title": "Development", "minutes": 10,
     "prompts": ["What do you want to learn next?", "What feedback do you have for me?"]},
    {"title": "Forward planning", "minutes": 5,
     "prompts": ["What are the priorities until next time?", "Which action items do we agree on?"]},
]


def upgrade() -> None:
    op.bulk_insert(templates, [{
        "name": NAME,
        "description": "A balanced half hour: check in, progress, growth, and what comes next.",
        "sections": SECTIONS,
        "created_by": None,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
    }])


def downgrade() -> None:
    op.execute(templates.delete().where(templates.c.name == NAME, templates.c.created_by.is_(None)))
