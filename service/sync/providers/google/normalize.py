"""Google Calendar v3 `Event` resources → the neutral EventSnapshot.

Pure functions: no I/O, no clock. Mapping (see service.domain.events):
- kind: `recurringEventId` → instance; `recurrence` → series; else single;
- a cancelled instance may be a stub (id, recurringEventId, originalStartTime,
  status only): start/end stay None, its slot is `original_start`;
- `dateTime` times carry an offset → UTC; all-day `date` → midnight UTC of that
  date; `end` is exclusive;
- timezone: start.timeZone (originalStartTime.timeZone for stubs), else the
  calendar's zone;
- attendees: responseStatus, `resource: true` (rooms), `organizer: true`;
- transparency `transparent` → not busy;
- visibility `private` or `confidential` → kept as `withheld` leaves it (no title, no
  needless attendees; see service.domain.events);
- updated → UTC (a resource without it takes `observed_at`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.domain.events import RESPONSES, STATUSES, Attendee, EventSnapshot, Kind, Response, Status, withheld

UTC = UTC
# Google's `visibility`: default | public | private | confidential (the last two
# hide the details from everyone but the event's attendees).
PRIVATE_VISIBILITY = ("private", "confidential")


class GoogleEventError(ValueError):
    """A resource that cannot be read as a Google event."""


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise GoogleEventError(f"timestamp without offset: {value!r}")
    return moment.astimezone(UTC)


def google_time(obj: Mapping[str, Any] | None, fallback_zone: str | None = None) -> tuple[datetime | None, bool]:
    """An EventDateTime as (UTC instant, all_day). All-day dates become midnight
    UTC of the date (the neutral model's convention)."""
    if not obj:
        return None, False
    if obj.get("date"):
        day = date.fromisoformat(obj["date"])
        return datetime(day.year, day.month, day.day, tzinfo=UTC), True
    if not obj.get("dateTime"):
        return None, False
    moment = datetime.fromisoformat(obj["dateTime"])
    if moment.tzinfo is None:  # accepted by Google on input when timeZone says where
        tz = _zone(obj.get("timeZone")) or _zone(fallback_zone)
        if tz is None:
            raise GoogleEventError(f"floating dateTime without a zone: {obj!r}")
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC), False


_UNTIL = re.compile(r"UNTIL=([0-9]{8})(T[0-9]{6})?(Z?)", re.IGNORECASE)


def dateutil_ready(lines: Iterable[str], tz: ZoneInfo | None) -> tuple[str, ...]:
    """Recurrence lines with RRULE/EXRULE UNTIL in UTC, as dateutil demands for
    an aware DTSTART (Google also accepts a floating or date-only UNTIL, meaning
    the end of that local day/time in the series' zone)."""
    if tz is None:
        return tuple(lines)

    def fix(match: re.Match) -> str:
        if match.group(3):
            return match.group(0)
        local = datetime.strptime(match.group(1) + (match.group(2) or "T235959"), "%Y%m%dT%H%M%S")
        return "UNTIL=" + local.replace(tzinfo=tz).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    out = []
    for line in lines:
        name = line.split(":", 1)[0].split(";", 1)[0].upper()
        out.append(_UNTIL.sub(fix, line) if name in ("RRULE", "EXRULE") else line)
    return tuple(out)


def _email(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        if value:
            return value.lower()
    return None


def _attendees(resource: Mapping[str, Any], organizer: str | None) -> tuple[Attendee, ...]:
    out: list[Attendee] = []
    seen: set[str] = set()
    responses, needs_action = RESPONSES, Response.needs_action
    for person in resource.get("attendees") or []:
        email = _email(person.get("email"))
        if email is None or email in seen:
            continue
        seen.add(email)
        out.append(
            Attendee(
                email,
                responses.get(person.get("responseStatus", ""), needs_action),
                bool(person.get("resource", False)),
                bool(person.get("organizer", False)) or email == organizer,
            )
        )
    return tuple(out)


def normalize_google_event(
    calendar_email: str,
    resource: Mapping[str, Any],
    *,
    calendar_time_zone: str | None = None,
    observed_at: datetime | None = None,
) -> EventSnapshot:
    """One calendar's copy of a Google event as an EventSnapshot.

    `calendar_time_zone` (the list response's `timeZone`) names the zone of
    all-day events and of events without start.timeZone; `observed_at` stands in
    for `updated` when Google leaves it out (deleted events are only guaranteed
    to carry their id)."""
    event_id = resource.get("id")
    if not event_id:
        raise GoogleEventError("event without id")
    status = STATUSES.get(resource.get("status") or "confirmed", Status.confirmed)
    if resource.get("updated"):
        updated = _instant(resource["updated"])
    elif observed_at is not None:
        updated = observed_at.astimezone(UTC)
    else:
        raise GoogleEventError(f"{event_id}: no `updated` and no observation time")

    series_id = resource.get("recurringEventId")
    if series_id:
        kind = Kind.instance
    elif resource.get("recurrence"):
        kind = Kind.series
    else:
        kind = Kind.single

    start, all_day = google_time(resource.get("start"), calendar_time_zone)
    end, _ = google_time(resource.get("end"), calendar_time_zone)
    original = resource.get("originalStartTime")
    original_start, original_all_day = google_time(original, calendar_time_zone) if original else (None, False)
    if start is None:
        all_day = original_all_day
    zone_source = (resource.get("start") or {}).get("timeZone") or (original or {}).get("timeZone")
    tz_name = zone_source if _zone(zone_source) else (calendar_time_zone if _zone(calendar_time_zone) else None)

    organizer = _email((resource.get("organizer") or {}).get("email"))
    snapshot = EventSnapshot(
        calendar=calendar_email.lower(),
        event_id=event_id,
        kind=kind,
        status=status,
        updated=updated,
        provider="google",
        ical_uid=resource.get("iCalUID"),
        series_id=series_id,
        original_start=original_start if kind is Kind.instance else None,
        start=start,
        end=end,
        timezone=tz_name,
        all_day=all_day,
        recurrence=(
            dateutil_ready(resource.get("recurrence") or (), None if all_day else _zone(tz_name))
            if kind is Kind.series
            else ()
        ),
        organizer=organizer,
        attendees=_attendees(resource, organizer),
        busy=resource.get("transparency", "opaque") != "transparent",
        title=resource.get("summary") or "",
    )
    return withheld(snapshot) if resource.get("visibility") in PRIVATE_VISIBILITY else snapshot
