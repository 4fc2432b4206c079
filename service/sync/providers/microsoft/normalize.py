"""Microsoft Graph v1.0 `event` resources → the neutral EventSnapshot.

Pure functions: no I/O, no clock. Mapping (see service.domain.events):
- kind: seriesMaster → series; occurrence/exception → instance; else single;
- an occurrence from calendarView delta may be a stub (id, type,
  seriesMasterId, originalStart, start, end): its other details come from the
  series master passed as `master`;
- times: `{"dateTime", "timeZone"}` with Windows (or IANA) zone names → UTC;
  all-day events are floating dates → midnight UTC of the dates;
- timezone: the zone the event was scheduled in (recurrenceTimeZone,
  originalStartTimeZone, then start.timeZone) as IANA;
- `recurrence` (patternedRecurrence) → RRULE lines dateutil expands the way
  Outlook does (endDate is inclusive and local, numbered → COUNT);
  `cancelledOccurrences` (when selected) → EXDATE lines;
- showAs free → not busy; isCancelled → cancelled;
- sensitivity `private` or `confidential` (occurrences inherit the master's) → kept
  as `withheld` leaves it (no title, no needless attendees; see service.domain.events);
- attendees: type resource → resource; responses none/notResponded →
  needsAction, tentativelyAccepted → tentative, organizer → accepted; the
  organizer (not listed among Graph's attendees) is added as one, and the
  mailbox owner's own answer comes from `responseStatus`;
- iCalendar UID: Graph's iCalUId differs per occurrence, so instances take the
  series master's (copies of one meeting then share `ical_uid`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from service.domain.events import Attendee, EventSnapshot, Kind, Response, Status, withheld
from service.sync.providers.microsoft.windows_zones import UnknownTimeZone, to_iana

UTC = UTC
GOID_PREFIX = "040000008200E00074C5B7101A82E008"
_DAYS = {
    "sunday": "SU",
    "monday": "MO",
    "tuesday": "TU",
    "wednesday": "WE",
    "thursday": "TH",
    "friday": "FR",
    "saturday": "SA",
}
# Graph's `sensitivity`: normal | personal | private | confidential.
PRIVATE_SENSITIVITY = ("private", "confidential")
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_RESPONSES = {
    "none": Response.needs_action,
    "notResponded": Response.needs_action,
    "accepted": Response.accepted,
    "tentativelyAccepted": Response.tentative,
    "declined": Response.declined,
    "organizer": Response.accepted,
}
# Fields that identify one item: never inherited from the master.
_OWN = (
    "id",
    "type",
    "start",
    "end",
    "recurrence",
    "seriesMasterId",
    "originalStart",
    "iCalUId",
    "@odata.etag",
    "@odata.type",
    "changeKey",
    "lastModifiedDateTime",
    "createdDateTime",
    "cancelledOccurrences",
    "exceptionOccurrences",
)


class GraphEventError(ValueError):
    """A resource that cannot be read as a Graph event."""


def iana_or_none(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return to_iana(name)
    except UnknownTimeZone:
        return None  # e.g. "tzone://Microsoft/Custom": the caller falls back


def graph_time(
    obj: Mapping[str, Any] | None, *, all_day: bool = False, fallback_zone: str | None = None
) -> datetime | None:
    """A dateTimeTimeZone as a UTC instant (all-day: midnight UTC of its date)."""
    if not obj or not obj.get("dateTime"):
        return None
    local = datetime.fromisoformat(obj["dateTime"])
    if all_day:
        return datetime(local.year, local.month, local.day, tzinfo=UTC)
    if local.tzinfo is None:
        zone_name = iana_or_none(obj.get("timeZone")) or iana_or_none(fallback_zone) or "UTC"
        local = local.replace(tzinfo=ZoneInfo(zone_name))
    return local.astimezone(UTC)


def _until(end_day: date, tz: ZoneInfo) -> str:
    last_moment = datetime.combine(end_day, time(23, 59, 59), tzinfo=tz)
    return last_moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _by_day(pattern: Mapping[str, Any]) -> str:
    return ",".join(_DAYS[d.lower()] for d in pattern.get("daysOfWeek") or [])


def _month_day(day: int) -> str:
    # Outlook puts a day the month lacks on the month's last day; RRULE skips
    # such months, so offer the last candidate days and keep the last one.
    if day >= 29:
        return f"BYMONTHDAY={','.join(str(d) for d in range(28, day + 1))};BYSETPOS=-1"
    return f"BYMONTHDAY={day}"


def recurrence_lines(recurrence: Mapping[str, Any], tz: ZoneInfo, *, first_day: date | None = None) -> tuple[str, ...]:
    """A patternedRecurrence as RRULE lines for dateutil with an aware DTSTART
    in `tz` (the recurrence zone) on the range's start date."""
    pattern, rng = recurrence.get("pattern") or {}, recurrence.get("range") or {}
    kind = pattern.get("type")
    parts: list[str] = []
    interval = max(int(pattern.get("interval") or 1), 1)
    if kind == "daily":
        parts = ["FREQ=DAILY", f"INTERVAL={interval}"]
    elif kind == "weekly":
        days = _by_day(pattern) or (
            ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][first_day.weekday()] if first_day else ""
        )
        parts = ["FREQ=WEEKLY", f"INTERVAL={interval}"] + ([f"BYDAY={days}"] if days else [])
        parts.append(f"WKST={_DAYS[(pattern.get('firstDayOfWeek') or 'sunday').lower()]}")
    elif kind == "absoluteMonthly":
        parts = ["FREQ=MONTHLY", f"INTERVAL={interval}", _month_day(int(pattern.get("dayOfMonth") or 1))]
    elif kind == "relativeMonthly":
        parts = [
            "FREQ=MONTHLY",
            f"INTERVAL={interval}",
            f"BYDAY={_by_day(pattern)}",
            f"BYSETPOS={_INDEX[(pattern.get('index') or 'first').lower()]}",
        ]
    elif kind == "absoluteYearly":
        parts = [
            "FREQ=YEARLY",
            f"INTERVAL={interval}",
            f"BYMONTH={int(pattern.get('month') or 1)}",
            _month_day(int(pattern.get("dayOfMonth") or 1)),
        ]
    elif kind == "relativeYearly":
        parts = [
            "FREQ=YEARLY",
            f"INTERVAL={interval}",
            f"BYMONTH={int(pattern.get('month') or 1)}",
            f"BYDAY={_by_day(pattern)}",
            f"BYSETPOS={_INDEX[(pattern.get('index') or 'first').lower()]}",
        ]
    else:
        raise GraphEventError(f"unknown recurrence pattern type {kind!r}")
    range_type = rng.get("type") or "noEnd"
    if range_type == "numbered":
        parts.append(f"COUNT={max(int(rng.get('numberOfOccurrences') or 0), 1)}")
    elif range_type == "endDate" and rng.get("endDate"):
        parts.append(f"UNTIL={_until(date.fromisoformat(rng['endDate']), tz)}")
    return ("RRULE:" + ";".join(parts),)


def _exdates(cancelled: list[str], clock: time, tz: ZoneInfo) -> tuple[str, ...]:
    """cancelledOccurrences ("OID.<masterId>.<yyyy-mm-dd>", local date) → EXDATE in UTC."""
    out = []
    for oid in cancelled:
        try:
            day = date.fromisoformat(oid.rsplit(".", 1)[1])
        except (IndexError, ValueError):
            continue
        slot = datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)
        out.append("EXDATE:" + slot.strftime("%Y%m%dT%H%M%SZ"))
    return tuple(out)


def _series_uid(resource: Mapping[str, Any], master: Mapping[str, Any] | None) -> str | None:
    if master is not None:
        return master.get("uid") or master.get("iCalUId")
    if resource.get("uid"):
        return resource["uid"]
    uid = resource.get("iCalUId")
    if uid and uid.upper().startswith(GOID_PREFIX) and len(uid) >= 40:
        return uid[:32] + "00000000" + uid[40:]  # the instance date bytes zeroed: the series' id
    return uid


def _address(obj: Mapping[str, Any] | None) -> str | None:
    address = ((obj or {}).get("emailAddress") or {}).get("address")
    return address.strip().lower() if isinstance(address, str) and address.strip() else None


def _attendees(merged: Mapping[str, Any], owner: str, organizer: str | None) -> tuple[Attendee, ...]:
    listed = merged.get("attendees") or []
    own_answer = (merged.get("responseStatus") or {}).get("response")
    out: dict[str, Attendee] = {}
    for person in listed:
        email = _address(person)
        if email is None or email in out:
            continue
        response = _RESPONSES.get((person.get("status") or {}).get("response", "none"), Response.needs_action)
        if email == owner and own_answer in ("accepted", "tentativelyAccepted", "declined"):
            response = _RESPONSES[own_answer]  # the owner's copy knows its own answer best
        out[email] = Attendee(
            email=email, response=response, resource=(person.get("type") == "resource"), organizer=(email == organizer)
        )
    if listed and organizer and organizer not in out:
        out[organizer] = Attendee(email=organizer, response=Response.accepted, organizer=True)
    if listed and owner not in out and own_answer in ("accepted", "tentativelyAccepted", "declined"):
        out[owner] = Attendee(email=owner, response=_RESPONSES[own_answer])
    return tuple(out.values())


def normalize_graph_event(
    mailbox_email: str,
    resource: Mapping[str, Any],
    master: Mapping[str, Any] | None = None,
    *,
    observed_at: datetime | None = None,
    mailbox_time_zone: str | None = None,
) -> EventSnapshot:
    """One mailbox's copy of a Graph event as an EventSnapshot. Pass the series
    master for occurrences and exceptions (required for stubs)."""
    event_id = resource.get("id")
    if not event_id:
        raise GraphEventError("event without id")
    if "@removed" in resource:
        raise GraphEventError(f"{event_id}: a removal, not an event")
    owner = mailbox_email.lower()
    kind_name = resource.get("type") or ("seriesMaster" if resource.get("recurrence") else "singleInstance")
    is_instance = kind_name in ("occurrence", "exception")
    inherited = {k: v for k, v in (master or {}).items() if k not in _OWN} if is_instance else {}
    merged: dict[str, Any] = {**inherited, **resource}
    kind = Kind.series if kind_name == "seriesMaster" else Kind.instance if is_instance else Kind.single

    stamp = resource.get("lastModifiedDateTime") or (master or {}).get("lastModifiedDateTime")
    if stamp:
        updated = datetime.fromisoformat(stamp).astimezone(UTC)
    elif observed_at is not None:
        updated = observed_at.astimezone(UTC)
    else:
        raise GraphEventError(f"{event_id}: no lastModifiedDateTime and no observation time")

    recurrence = merged.get("recurrence") if kind is Kind.series else None
    zone_name = (
        iana_or_none(((recurrence or {}).get("range") or {}).get("recurrenceTimeZone"))
        or iana_or_none(merged.get("originalStartTimeZone"))
        or iana_or_none((merged.get("start") or {}).get("timeZone"))
        or iana_or_none(mailbox_time_zone)
    )
    all_day = bool(merged.get("isAllDay", False))
    start = graph_time(merged.get("start"), all_day=all_day, fallback_zone=zone_name)
    end = graph_time(merged.get("end"), all_day=all_day, fallback_zone=zone_name)

    lines: tuple[str, ...] = ()
    if recurrence and start is not None and end is not None:
        tz = ZoneInfo(zone_name or "UTC")
        local = start.astimezone(tz) if not all_day else start.replace(tzinfo=tz)
        first = (recurrence.get("range") or {}).get("startDate")
        if first and date.fromisoformat(first) != local.date():
            # Graph anchors the pattern at range.startDate: make that the DTSTART.
            anchor = datetime.combine(date.fromisoformat(first), local.timetz())
            length = end - start
            start = datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC) if all_day else anchor.astimezone(UTC)
            end = start + length
            local = anchor
        lines = recurrence_lines(recurrence, tz, first_day=local.date())
        lines += _exdates(list(merged.get("cancelledOccurrences") or []), local.timetz().replace(tzinfo=None), tz)

    original = resource.get("originalStart")
    organizer = _address(merged.get("organizer"))
    snapshot = EventSnapshot(
        calendar=owner,
        event_id=event_id,
        kind=kind,
        status=Status.cancelled if merged.get("isCancelled") else Status.confirmed,
        updated=updated,
        provider="microsoft",
        ical_uid=_series_uid(resource, master) if is_instance else (merged.get("uid") or merged.get("iCalUId")),
        series_id=merged.get("seriesMasterId") if is_instance else None,
        original_start=datetime.fromisoformat(original).astimezone(UTC) if is_instance and original else None,
        start=start,
        end=end,
        timezone=zone_name,
        all_day=all_day,
        recurrence=lines,
        organizer=organizer,
        attendees=_attendees(merged, owner, organizer),
        busy=(merged.get("showAs") or "busy") != "free",
        title=merged.get("subject") or "",
    )
    return withheld(snapshot) if merged.get("sensitivity") in PRIVATE_SENSITIVITY else snapshot


__all__ = ["GraphEventError", "graph_time", "iana_or_none", "normalize_graph_event", "recurrence_lines"]
