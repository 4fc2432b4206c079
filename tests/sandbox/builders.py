"""Small builders for provider-native events and page drains used by the store tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from service.sandbox import GoogleStore, GraphStore

UTC = UTC
MAYA, LI, OMAR = "maya.diaz@acme.test", "li.wei@acme.test", "omar.haddad@acme.test"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def google_event(
    event_id: str = "ev1",
    *,
    start: str = "2026-01-05T10:00:00+01:00",
    end: str = "2026-01-05T10:30:00+01:00",
    zone: str = "Europe/Berlin",
    recurrence: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": event_id,
        "status": "confirmed",
        "summary": "Maya / Li 1:1",
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        "iCalUID": f"{event_id}@google.com",
        "organizer": {"email": MAYA, "displayName": "Maya Diaz"},
        "creator": {"email": MAYA},
        "attendees": [
            {"email": MAYA, "organizer": True, "responseStatus": "accepted"},
            {"email": LI, "responseStatus": "needsAction"},
        ],
        "eventType": "default",
    }
    if recurrence:
        event["recurrence"] = recurrence
    event.update(extra)
    return event


def google_store(*calendars: str) -> GoogleStore:
    store = GoogleStore()
    for email in calendars or (MAYA, LI):
        store.add_calendar(email, time_zone="Europe/Berlin")
    return store


def google_drain(store: GoogleStore, calendar: str, **params: Any) -> tuple[list[dict], str, list[dict]]:
    """All items of a listing, its sync token, and the pages."""
    pages = [store.list_events(calendar, **params)]
    while "nextPageToken" in pages[-1]:
        pages.append(store.list_events(calendar, page_token=pages[-1]["nextPageToken"], **params))
    items = [item for page in pages for item in page["items"]]
    return items, pages[-1]["nextSyncToken"], pages


def graph_event(
    event_id: str = "AAMkAGev1AAA=",
    *,
    start: str = "2026-01-05T09:00:00.0000000",
    end: str = "2026-01-05T09:30:00.0000000",
    zone: str = "W. Europe Standard Time",
    pattern: dict | None = None,
    rng: dict | None = None,
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": event_id,
        "iCalUId": "040000008200E00074C5B7101A82E00800000000AB12CD34EF5678900000000000000000",
        "uid": "040000008200E00074C5B7101A82E00800000000AB12CD34EF5678900000000000000000",
        "subject": "Maya / Li 1:1",
        "type": "singleInstance",
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        "originalStartTimeZone": zone,
        "originalEndTimeZone": zone,
        "recurrence": None,
        "organizer": {"emailAddress": {"name": "Maya Diaz", "address": MAYA}},
        "attendees": [
            {
                "type": "required",
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": "Li Wei", "address": LI},
            }
        ],
        "showAs": "busy",
        "isAllDay": False,
        "isCancelled": False,
        "isReminderOn": True,
        "responseRequested": True,
        "sensitivity": "normal",
        "importance": "normal",
        "isOnlineMeeting": False,
    }
    if pattern is not None:
        event["type"] = "seriesMaster"
        event["recurrence"] = {
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "month": 0,
                "dayOfMonth": 0,
                "daysOfWeek": ["monday"],
                "firstDayOfWeek": "sunday",
                "index": "first",
                **pattern,
            },
            "range": {
                "type": "noEnd",
                "startDate": start[:10],
                "endDate": "0001-01-01",
                "recurrenceTimeZone": zone,
                "numberOfOccurrences": 0,
                **(rng or {}),
            },
        }
    event.update(extra)
    return event


def graph_store(*mailboxes: str, **kwargs: Any) -> GraphStore:
    store = GraphStore(**kwargs)
    for email in mailboxes or (MAYA,):
        store.add_mailbox(email, time_zone="Europe/Berlin")
    return store


def link_token(link: str, name: str) -> str:
    return parse_qs(urlsplit(link).query)[name][0]


def graph_drain(store: GraphStore, mailbox: str, **params: Any) -> tuple[list[dict], str, list[dict]]:
    """All items of one delta round, its delta token, and the pages."""
    page_params = {k: v for k, v in params.items() if k in ("max_page_size", "prefer_timezone", "prefer_utc")}
    pages = [store.calendar_view_delta(mailbox, **params)]
    while "@odata.nextLink" in pages[-1]:
        token = link_token(pages[-1]["@odata.nextLink"], "$skiptoken")
        pages.append(store.calendar_view_delta(mailbox, skip_token=token, **page_params))
    items = [item for page in pages for item in page["value"]]
    return items, link_token(pages[-1]["@odata.deltaLink"], "$deltatoken"), pages
