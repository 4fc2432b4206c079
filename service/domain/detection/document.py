"""The `oneonone-replay/1` document: exactly the SPEC's fields, UTC times as
`YYYY-MM-DDTHH:MM:SSZ`, everything sorted so that equal inputs give equal bytes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.domain.detection.model import KEY_FIELDS, DetectedFinding, DetectedMeeting, Detection, PairSummary
from service.domain.detection.rules import as_utc, iso

FORMAT = "oneonone-replay/1"


def pair_json(pair: PairSummary) -> dict[str, Any]:
    return {
        "manager": pair.manager,
        "report": pair.report,
        "cadence": pair.cadence,
        "interval_days": pair.interval_days,
        "last_held": iso(pair.last_held),
        "next_scheduled": iso(pair.next_scheduled),
    }


def meeting_json(meeting: DetectedMeeting) -> dict[str, Any]:
    return {
        "manager": meeting.manager,
        "report": meeting.report,
        "original_start": iso(meeting.original_start),
        "start": iso(meeting.start),
        "end": iso(meeting.end),
        "status": meeting.status,
    }


def finding_json(finding: DetectedFinding) -> dict[str, Any]:
    out: dict[str, Any] = {"type": finding.type, "manager": finding.manager, "report": finding.report}
    for name in KEY_FIELDS[finding.type]:
        value = getattr(finding, name)
        out[name] = iso(value) if isinstance(value, datetime) else value
    out.update(finding.details)
    return out


def to_replay_json(detection: Detection, now: datetime) -> dict[str, Any]:
    pairs = sorted(detection.pairs, key=lambda p: (p.manager, p.report))
    meetings = sorted(detection.meetings, key=lambda m: (m.manager, m.report, m.original_start, m.start))
    findings = sorted(detection.findings, key=DetectedFinding.sort_key)
    return {
        "format": FORMAT,
        "now": iso(as_utc(now)),
        "pairs": [pair_json(p) for p in pairs],
        "meetings": [meeting_json(m) for m in meetings],
        "findings": [finding_json(f) for f in findings],
    }
