"""What detection concludes: frozen dataclasses mirroring `oneonone-replay/1`
(pairs, meetings, findings), plus source details and evidence for the service
and for `replay --explain`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.domain.detection.rules import iso

# Finding types and the fields that identify one (besides manager and report).
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "cancelled_without_reschedule": ("occurrence_start",),
    "late_reschedule": ("occurrence_start",),
    "shortened": ("occurrence_start",),
    "declined": ("occurrence_start", "by"),
    "double_booked": ("occurrence_start", "by"),
    "cadence_gap": ("since",),
    "no_upcoming": (),
}
# Informative fields, in output order.
DETAIL_FIELDS = ("start", "notice_hours", "minutes", "reference_minutes", "conflict", "gap_days", "horizon_days")


@dataclass(frozen=True, slots=True)
class PairSummary:
    manager: str
    report: str
    cadence: str  # none | weekly | biweekly | monthly | irregular
    interval_days: float | int | None
    last_held: datetime | None
    next_scheduled: datetime | None


@dataclass(frozen=True, slots=True)
class DetectedMeeting:
    manager: str
    report: str
    original_start: datetime
    start: datetime
    end: datetime
    status: str  # scheduled | held | cancelled | declined
    title: str = ""  # "" when private
    private: bool = False  # a copy is marked private
    ical_uid: str | None = None  # source: the meeting's iCalendar UID
    series_id: str | None = None  # source: the series' event id (organizer's copy)
    event_id: str | None = None  # source: the event or instance id (organizer's copy)
    calendar: str | None = None  # source: the calendar whose copy was used
    cancelled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventRef:
    """A calendar event named by a finding's evidence, with what it takes to show each
    viewer only what they may see of it (service.domain.evidence): its calendar (the
    owner's email), its time, and the content its owner sees (title, ids). `slot` is set
    for the pair's 1:1 itself (its original start)."""

    calendar: str
    start: datetime
    end: datetime
    title: str = ""
    event_id: str | None = None
    uid: str | None = None
    private: bool = False
    slot: datetime | None = None

    def text(self) -> str:
        """In full, as `replay --explain` shows it."""
        if self.slot is not None:
            return f"'{self.title}' slot {iso(self.slot)} ({self.calendar}, event {self.event_id}, uid {self.uid})"
        return f"'{self.title}' {iso(self.start)}-{iso(self.end)} on {self.calendar} (event {self.event_id})"


# One line of evidence: text and the events it names, in order.
EvidenceLine = tuple[str | EventRef, ...]


def line_text(line: EvidenceLine) -> str:
    return "".join(part if isinstance(part, str) else part.text() for part in line)


@dataclass(frozen=True, slots=True)
class DetectedFinding:
    type: str
    manager: str
    report: str
    occurrence_start: datetime | None = None
    by: str | None = None  # "manager" | "report"
    since: datetime | None = None
    start: datetime | None = None
    notice_hours: float | None = None
    minutes: float | int | None = None
    reference_minutes: float | int | None = None
    conflict: str | None = None
    gap_days: float | None = None
    horizon_days: float | int | None = None
    explanation: tuple[EvidenceLine, ...] = ()
    conflict_event: EventRef | None = None  # double_booked: the clash `conflict` names

    @property
    def evidence(self) -> tuple[str, ...]:
        """The explanation in full, one line each (`replay --explain`)."""
        return tuple(line_text(line) for line in self.explanation)

    @property
    def key(self) -> str:
        """Stable identity, e.g. `declined|maya@…|li@…|2026-02-09T08:00:00Z|report`."""
        parts = [self.type, self.manager, self.report]
        for name in KEY_FIELDS[self.type]:
            value = getattr(self, name)
            parts.append(iso(value) if isinstance(value, datetime) else str(value))
        return "|".join(parts)

    @property
    def details(self) -> dict[str, Any]:
        """The informative fields that are set, JSON-ready."""
        out: dict[str, Any] = {}
        for name in DETAIL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = iso(value) if isinstance(value, datetime) else value
        return out

    def sort_key(self) -> tuple:
        moment = self.occurrence_start or self.since
        return (self.manager, self.report, moment.timestamp() if moment else 0.0, self.type, self.by or "")


@dataclass(frozen=True, slots=True)
class PairDetection:
    pair: PairSummary
    meetings: tuple[DetectedMeeting, ...]
    findings: tuple[DetectedFinding, ...]
    # The earliest later `now` at which this may differ with no calendar change
    # (see `boundaries`); None: only a calendar change can change it.
    next_change: datetime | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    pairs: tuple[PairSummary, ...]
    meetings: tuple[DetectedMeeting, ...]
    findings: tuple[DetectedFinding, ...]

    @classmethod
    def combine(cls, parts: list[PairDetection]) -> Detection:
        parts = sorted(parts, key=lambda p: (p.pair.manager, p.pair.report))
        return cls(
            tuple(p.pair for p in parts),
            tuple(m for p in parts for m in p.meetings),
            tuple(f for p in parts for f in p.findings),
        )
