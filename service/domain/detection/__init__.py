"""The detection engine: calendar history in, 1:1 pairs, meetings and findings out.

Pure functions of (history, org, policies, now): no I/O, no wall clock.

    detection = detect(history, people, policies, now)
    one = detect_pair(history, manager_email, report_email, people_index(people), policy, now)
    some = detect_pairs(history, [(manager, report, policy), ...], people_index(people), now)
    document = to_replay_json(detection, now)      # oneonone-replay/1

Modules: `records` (history → per-calendar event records), `recurrence`
(slots in the series' own zone), `timeline` (an occurrence as one copy sees
it), `singles` and `series` (replaying each occurrence's changes without
rewriting history), `occurrences` (entry point), `classify` (what is a 1:1;
merging copies), `cadence`, `busy` (double-booking blocks), `detectors` (one
function per finding type), `engine` (orchestration), `model` (output types),
`document` (the oneonone-replay/1 JSON), `rules` (the SPEC's numbers), `boundaries`
(when a pair's result can next change with no calendar change).

Where the SPEC is silent, these choices were made (details in each module):
- History is never rewritten: a move, a length change, a cancellation or a
  series edit made at or after an occurrence's current start leaves that
  occurrence as it was.
- An answer is not bound by time (SPEC's `declined` has no time condition): one
  given while an occurrence runs or after it ended counts, so a 1:1 declined
  after it ended is `declined`, not `held`, and the latest answer wins, whenever
  given. It reaches an occurrence while the calendar still shows it: once
  cancelled, removed, moved or dropped from its series at or after its start,
  the occurrence keeps the answers it had then.
- A series-wide answer ("for the whole event") applies to every occurrence the
  series still has, past ones included; between a series answer and a
  per-occurrence answer, the later one wins.
- "Modified individually" means the instance differs from its slot (times or
  title; an answer is no change of the occurrence). Such occurrences keep their
  times through series time or length edits; an EXDATE still cancels them, the
  series' end still removes them.
- An EXDATE present when the series was created means the slot never existed.
- A removed or cancelled instance is no cancellation when the series explains
  it: the series is deleted then (within 5 minutes), or the version in force no
  longer produces the slot (it vanished with UNTIL or a new time).
- Copies: the organizer's copy decides times and cancellation; each person's
  answer is the latest change in any copy (their own copy wins ties). Single
  events are matched across copies by UID alone.
- interval from a series: FREQ/INTERVAL of its latest live version (yearly ×n
  → 365n); "first occurrence" is the start of the series as created.
- The median gap is statistics.median (mean of the middle two); interval_days
  is printed as an int when whole, else with one decimal.
- A replacement is any non-cancelled 1:1 of the pair (declined ones too) not in
  the cancelled occurrence's series. notice_hours is literally original start −
  cancellation time (negative if a later-moved occurrence is cancelled after
  its original slot).
- late_reschedule reports the current start; shortened compares with the
  length of the series version last applied before the occurrence's start.
- double_booked uses the owner's own copies only (their own answer, whenever
  given; busy flag and cancellation as of that block's start); `conflict` names
  the earliest overlapping block.
- last_held: latest held start in the window; next_scheduled: earliest start
  after now of a non-cancelled occurrence nobody declined (any distance).
- Events only on a third person's calendar are ignored (a pair depends on its
  two calendars); single events that ended over 98 days before now cannot
  matter and are skipped; an unknown time zone is read as UTC.
- Known limit: state first seen at the initial sync is dated by the provider's
  last-change time, which may postdate the change that made it."""

from service.domain.detection.document import FORMAT, to_replay_json
from service.domain.detection.engine import detect, detect_pair, detect_pairs, people_index, reporting_lines
from service.domain.detection.model import DetectedFinding, DetectedMeeting, Detection, PairDetection, PairSummary

__all__ = [
    "FORMAT",
    "Detection",
    "DetectedFinding",
    "DetectedMeeting",
    "PairDetection",
    "PairSummary",
    "detect",
    "detect_pair",
    "detect_pairs",
    "people_index",
    "reporting_lines",
    "to_replay_json",
]
