"""A finding's evidence as stored, and as each viewer is shown it.

Evidence names calendar events (`EventRef`): the pair's 1:1 and, for double_booked,
the events it clashes with on one participant's own calendar. They are stored
structured — which calendar each comes from (its owner's email), its time, and what
its owner sees of it (title, event id, iCalendar UID) — in `details.evidence` (a list of
lines, each a list of text and events) and `details.conflict`, and rendered for the
viewer at read time, calendar content on a need-to-know basis:

- a person sees the title and ids only of events on their own calendar; an event on
  any other calendar is busy time: "busy 2026-03-10T09:00:00Z-2026-03-10T10:00:00Z
  on li@…", and a `conflict` there reads "busy";
- the pair's 1:1 itself is on both participants' calendars (both attend it), so both
  see its title — as the meetings API shows it to them — but only the owner of the
  copy named sees that copy's ids; anyone else sees "1:1 slot …";
- admins are not participants: they see no titles or ids at all, busy time only;
- an event marked private (`EventSnapshot.private`) is busy time for everyone, its
  owner included (its title was never stored).

Findings stored before evidence was structured hold plain text that may name another
calendar's events: those lines are not shown, and their `conflict` reads "busy".
`oneonone replay --explain`, an operator's tool, shows everything
(`DetectedFinding.evidence`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.domain.access import Principal, is_participant
from service.domain.detection.model import DetectedFinding, EventRef, EvidenceLine
from service.domain.detection.rules import iso

BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Viewer:
    email: str  # lower-cased: whose calendar is "own"
    participant: bool  # the pair's manager or report

    @classmethod
    def of(cls, principal: Principal, manager_id: int, report_id: int) -> Viewer:
        return cls(principal.email.lower(), is_participant(principal, manager_id, report_id))


# -- as stored ---------------------------------------------------------------------------------------
def ref_json(ref: EventRef) -> dict[str, Any]:
    out: dict[str, Any] = {"calendar": ref.calendar, "start": iso(ref.start), "end": iso(ref.end)}
    if ref.slot is not None:
        out["slot"] = iso(ref.slot)
    if ref.private:
        out["private"] = True
    else:  # a private event's title was never stored; its ids are not shown to anyone
        out.update(title=ref.title, event_id=ref.event_id)
        if ref.uid is not None:
            out["uid"] = ref.uid
    return out


def line_json(line: EvidenceLine) -> list[Any]:
    return [part if isinstance(part, str) else ref_json(part) for part in line]


def stored(finding: DetectedFinding) -> dict[str, Any]:
    """The evidence (and conflict) fields of a finding's stored `details`."""
    out: dict[str, Any] = {"evidence": [line_json(line) for line in finding.explanation]}
    if finding.conflict_event is not None:
        out["conflict"] = ref_json(finding.conflict_event)
    return out


# -- as shown ----------------------------------------------------------------------------------------
def _own(ref: dict[str, Any], viewer: Viewer) -> bool:
    return not ref.get("private") and ref.get("calendar") == viewer.email


def ref_text(ref: dict[str, Any], viewer: Viewer) -> str:
    own = _own(ref, viewer)
    title = ref.get("title", "")
    if "slot" in ref:  # the pair's 1:1
        if own:
            return f"'{title}' slot {ref['slot']} ({ref['calendar']}, event {ref['event_id']}, uid {ref.get('uid')})"
        if viewer.participant and not ref.get("private"):
            return f"'{title}' slot {ref['slot']}"
        return f"1:1 slot {ref['slot']}"
    if own:
        return f"'{title}' {ref['start']}-{ref['end']} on {ref['calendar']} (event {ref['event_id']})"
    return f"{BUSY} {ref['start']}-{ref['end']} on {ref['calendar']}"


def for_viewer(details: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """Stored `details` as `viewer` is shown them: evidence lines as text, `conflict` as
    the clash's title on the viewer's own calendar, else "busy"."""
    out = dict(details)
    if "evidence" in out:
        out["evidence"] = [
            "".join(part if isinstance(part, str) else ref_text(part, viewer) for part in line)
            for line in out["evidence"]
            if isinstance(line, list)  # plain text: stored before evidence was structured
        ]
    conflict = out.get("conflict")
    if isinstance(conflict, dict):
        out["conflict"] = conflict.get("title", "") if _own(conflict, viewer) else BUSY
    elif conflict is not None:
        out["conflict"] = BUSY
    return out
