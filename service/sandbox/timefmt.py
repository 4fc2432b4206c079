"""Time parsing and the exact string formats each provider emits.

Google writes `updated`/`created` as `2026-01-05T00:00:00.000Z` and event times
as local times with an offset (`Z` for UTC); Graph writes change stamps with
seven fractional digits (`2026-01-05T00:00:00.0000000Z`), event times as a local
`dateTime` without offset plus a `timeZone` name, and `originalStart` as a plain
UTC offset timestamp."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from service.sandbox.zones import zone as named_zone

UTC = UTC


def parse_instant(value: str | datetime) -> datetime:
    """An RFC 3339 instant (must carry an offset) as an aware UTC datetime."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError(f"instant without offset: {value!r}")
    return dt.astimezone(UTC)


def google_stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def google_local(dt: datetime) -> str:
    """`2026-01-05T10:00:00+01:00`; Google writes a zero offset as `Z`."""
    text = dt.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def graph_stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def graph_offset(dt: datetime) -> str:
    """Edm.DateTimeOffset as Graph writes `originalStart`: `2026-01-05T14:00:00Z`."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_local(dt: datetime) -> str:
    """The `dateTime` of a Graph dateTimeTimeZone: local, no offset, 7 digits."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0"


def google_time(obj: dict, fallback_zone: str) -> tuple[datetime, bool]:
    """A Google EventDateTime as (aware instant, all_day). All-day dates become
    midnight in `fallback_zone` (the calendar's zone), as Google lays them out."""
    if obj.get("date"):
        day = date.fromisoformat(obj["date"])
        return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(fallback_zone)), True
    dt = datetime.fromisoformat(obj["dateTime"])
    if dt.tzinfo is None:  # Google accepts an offset-less dateTime when timeZone is set
        dt = dt.replace(tzinfo=named_zone(obj.get("timeZone") or fallback_zone))
    return dt, False


def google_zone_of(obj: dict, fallback_zone: str) -> ZoneInfo:
    return named_zone(obj.get("timeZone") or fallback_zone)


def graph_time(obj: dict) -> datetime:
    """A Graph dateTimeTimeZone as an aware datetime in its own zone."""
    local = datetime.fromisoformat(obj["dateTime"])
    if local.tzinfo is not None:
        return local
    return local.replace(tzinfo=named_zone(obj.get("timeZone") or "UTC"))


def graph_dtz(dt: datetime, label: str) -> dict:
    """`dt` shown in the zone named `label` (Windows or IANA name, or UTC)."""
    return {"dateTime": graph_local(dt.astimezone(named_zone(label))), "timeZone": label}


def add_months(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1


def days_in_month(year: int, month: int) -> int:
    ny, nm = add_months(year, month, 1)
    return (date(ny, nm, 1) - timedelta(days=1)).day
