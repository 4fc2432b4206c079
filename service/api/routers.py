"""Every `/v1` router, in the order they appear in the OpenAPI document."""

from service.api import (
    actions,
    agenda,
    calendars,
    feedback,
    findings,
    insights,
    me,
    meetings,
    notes,
    pairs,
    people,
    templates,
    webhook_endpoints,
)

ROUTERS = [
    me.router,
    people.router,
    pairs.router,
    meetings.router,
    agenda.router,
    notes.router,
    actions.router,
    templates.router,
    feedback.router,
    findings.router,
    insights.router,
    calendars.router,
    webhook_endpoints.router,
]
