"""All ORM models, imported here so metadata is complete for Alembic."""

from service.db.models.base import Base
from service.db.models.calendars import (
    AccessToken,
    Calendar,
    CalendarConnection,
    CalendarEvent,
    EventRevision,
    OrphanSubscription,
    PushChannel,
    QuotaBucket,
    SyncRequest,
)
from service.db.models.findings import Finding
from service.db.models.meetings import (
    ActionItem,
    AgendaItem,
    Feedback,
    Meeting,
    MeetingStatus,
    PrivateNote,
    SharedNote,
    Template,
)
from service.db.models.outbound import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from service.db.models.pairs import Pair
from service.db.models.people import ApiToken, Person, Role
from service.db.models.ratings import FrozenRating, RatingMonth

__all__ = [
    "AccessToken",
    "ActionItem",
    "AgendaItem",
    "ApiToken",
    "Base",
    "Calendar",
    "CalendarConnection",
    "CalendarEvent",
    "EventRevision",
    "OrphanSubscription",
    "PushChannel",
    "Feedback",
    "Finding",
    "FrozenRating",
    "Meeting",
    "OutboxEvent",
    "MeetingStatus",
    "Pair",
    "Person",
    "PrivateNote",
    "QuotaBucket",
    "RatingMonth",
    "Role",
    "SharedNote",
    "SyncRequest",
    "Template",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
