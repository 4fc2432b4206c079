"""Writes the extra replay scenarios next to this file (11-…json to 15-…json, 31-…json).

    .venv/bin/python -m tests.replay.scenarios.build

Each covers a case the public scenarios do not. The timelines are written with
bench/scenario_kit.py (provider-native events, one op per copy); every `expect`
below is worked out by hand from ../shared/scenarios/SPEC.md, the reasoning in
the comments. All times UTC; Europe/Berlin is UTC+1 until 2026-03-29."""

from __future__ import annotations

from pathlib import Path

from bench.scenario_kit import MonthlyOnWeekday, Story, Weekly

HERE = Path(__file__).resolve().parent
START, NOW = "2026-01-05T00:00:00Z", "2026-03-04T10:00:00Z"  # window: 2025-12-04T10:00Z … 2026-03-18T10:00Z


def pair(manager, report, cadence, days):
    return {"manager": manager, "report": report, "cadence": cadence, "interval_days": days}


def meeting(manager, report, original, status, start=None, minutes=30):
    from datetime import datetime, timedelta

    begin = start or original
    end = (datetime.fromisoformat(begin.replace("Z", "+00:00")) + timedelta(minutes=minutes)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    return {
        "manager": manager,
        "report": report,
        "original_start": original,
        "start": begin,
        "end": end,
        "status": status,
    }


def finding(type_, manager, report, **fields):
    return {"type": type_, "manager": manager, "report": report, **fields}


def cancel_after_moved_start() -> tuple[Story, dict]:
    """Two moved occurrences of a mixed Google/Outlook weekly 1:1, each cancelled
    between its two starts. What counts is the current start: cancelled after it,
    the first stays held; cancelled before it, the second is cancelled."""
    maya, li = "maya.diaz@acme.test", "li.wei@acme.test"
    s = Story(
        "11-cancel-after-moved-start",
        start=START,
        now=NOW,
        seed=11,
        description=(
            "Maya (Google) / Li (Outlook), weekly Tuesdays 10:00 Berlin. The 10 Feb occurrence is moved a week "
            "ahead to Monday 9 Feb 10:00, then cancelled on 9 Feb at 13:00 Berlin: after its current start, "
            "before its original one. History is not rewritten: it stays held, no finding. The 24 Feb "
            "occurrence is moved to Thursday 26 Feb, then cancelled on 25 Feb: after its original start but "
            "before its current one: cancelled, and with nothing else of the pair within 3.5 days of 24 Feb, "
            "cancelled_without_reschedule (notice -27 h). Held 17 Feb, next held 3 Mar: a 14-day cadence gap."
        ),
    )
    s.person(maya, "Maya Diaz", provider="google")
    s.person(li, "Li Wei", manager=maya, provider="microsoft")
    m = s.series(maya, [li], at=START, first="2026-01-06T10:00", rule=Weekly("TU"))
    s.move(m, "2026-02-10T09:00:00Z", at="2026-02-02T09:00:00Z", start="2026-02-09T10:00")
    s.cancel(m, "2026-02-10T09:00:00Z", at="2026-02-09T12:00:00Z")
    s.move(m, "2026-02-24T09:00:00Z", at="2026-02-16T09:00:00Z", start="2026-02-26T10:00")
    s.cancel(m, "2026-02-24T09:00:00Z", at="2026-02-25T12:00:00Z")
    weekly = [f"2026-{d}T09:00:00Z" for d in ("01-06", "01-13", "01-20", "01-27", "02-03", "02-17", "03-03")]
    expect = {
        "pairs": [pair(maya, li, "weekly", 7)],
        "meetings": [meeting(maya, li, t, "held") for t in weekly]
        + [
            meeting(maya, li, "2026-02-10T09:00:00Z", "held", start="2026-02-09T09:00:00Z"),
            meeting(maya, li, "2026-02-24T09:00:00Z", "cancelled", start="2026-02-26T09:00:00Z"),
            meeting(maya, li, "2026-03-10T09:00:00Z", "scheduled"),
            meeting(maya, li, "2026-03-17T09:00:00Z", "scheduled"),
        ],
        "findings": [
            finding(
                "cancelled_without_reschedule", maya, li, occurrence_start="2026-02-24T09:00:00Z", notice_hours=-27.0
            ),
            finding("cadence_gap", maya, li, since="2026-02-17T09:00:00Z"),
        ],
    }
    return s, expect


def reschedule_at_half_interval() -> tuple[Story, dict]:
    """Outlook only, biweekly: ±½ × 14 = 7 days, bounds included."""
    grace, hugo = "grace.hughes@acme.test", "hugo.bernard@acme.test"
    s = Story(
        "12-reschedule-at-half-interval",
        start=START,
        now=NOW,
        seed=12,
        description=(
            "Grace / Hugo, both on Outlook, biweekly Thursdays 16:00 Berlin. 22 Jan is cancelled and rebooked "
            "as a one-off exactly 7 days later (29 Jan 16:00): ½ × 14 days, bound included, so no finding. "
            "19 Feb is cancelled and rebooked 7 days and 1 minute earlier (12 Feb 15:59): outside, so "
            "cancelled_without_reschedule. Held 8 Jan and next held 29 Jan are exactly 21 days = 1.5 × 14 "
            "apart: not more, no cadence gap."
        ),
    )
    s.person(grace, "Grace Hughes", tz="Europe/Berlin", provider="microsoft")
    s.person(hugo, "Hugo Bernard", manager=grace, tz="Europe/Berlin", provider="microsoft")
    m = s.series(grace, [hugo], at=START, first="2026-01-08T16:00", rule=Weekly("TH", 2))
    s.cancel(m, "2026-01-22T15:00:00Z", at="2026-01-19T09:00:00Z")
    s.single(grace, [hugo], at="2026-01-19T09:05:00Z", start="2026-01-29T16:00", title="Grace / Hugo (rebooked)")
    s.cancel(m, "2026-02-19T15:00:00Z", at="2026-02-09T09:00:00Z")
    s.single(grace, [hugo], at="2026-02-09T09:05:00Z", start="2026-02-12T15:59", title="Grace / Hugo (rebooked)")
    expect = {
        "pairs": [pair(grace, hugo, "biweekly", 14)],
        "meetings": [
            meeting(grace, hugo, "2026-01-08T15:00:00Z", "held"),
            meeting(grace, hugo, "2026-01-22T15:00:00Z", "cancelled"),
            meeting(grace, hugo, "2026-01-29T15:00:00Z", "held"),
            meeting(grace, hugo, "2026-02-05T15:00:00Z", "held"),
            meeting(grace, hugo, "2026-02-12T14:59:00Z", "held"),
            meeting(grace, hugo, "2026-02-19T15:00:00Z", "cancelled"),
            meeting(grace, hugo, "2026-03-05T15:00:00Z", "scheduled"),
        ],
        "findings": [
            finding(
                "cancelled_without_reschedule", grace, hugo, occurrence_start="2026-02-19T15:00:00Z", notice_hours=246.0
            )
        ],
    }
    return s, expect


def windows_zone_relative_monthly() -> tuple[Story, dict]:
    """Graph's relativeMonthly in a Windows zone, across the US change to summer time."""
    wen, aditi = "wen.nguyen@acme.test", "aditi.gupta@acme.test"
    s = Story(
        "13-windows-zone-relative-monthly",
        start="2026-01-02T00:00:00Z",
        now="2026-03-11T12:00:00Z",
        seed=13,
        description=(
            "Wen (Outlook, Pacific Standard Time) / Aditi (Outlook, India), monthly on the second Tuesday "
            "08:00 Los Angeles, 45 minutes (relativeMonthly, index second): 16:00 UTC in January and "
            "February, 15:00 UTC on 10 March after the US change to summer time (8 March). Aditi "
            "declines February's: declined, and 13 Jan to 10 Mar (55.96 days) is more than 1.5 × 30 "
            "days: a cadence gap. April's (14 Apr) lies within the 60-day horizon."
        ),
    )
    s.person(wen, "Wen Nguyen", tz="America/Los_Angeles", provider="microsoft")
    s.person(aditi, "Aditi Gupta", manager=wen, tz="Asia/Kolkata", provider="microsoft")
    m = s.series(
        wen, [aditi], at="2026-01-02T00:00:00Z", first="2026-01-13T08:00", rule=MonthlyOnWeekday("TU", 2), minutes=45
    )
    s.respond(m, aditi, "declined", at="2026-02-06T04:00:00Z", original_start="2026-02-10T16:00:00Z")
    expect = {
        "pairs": [pair(wen, aditi, "monthly", 30)],
        "meetings": [
            meeting(wen, aditi, "2026-01-13T16:00:00Z", "held", minutes=45),
            meeting(wen, aditi, "2026-02-10T16:00:00Z", "declined", minutes=45),
            meeting(wen, aditi, "2026-03-10T15:00:00Z", "held", minutes=45),
        ],
        "findings": [
            finding("declined", wen, aditi, occurrence_start="2026-02-10T16:00:00Z", by="report"),
            finding("cadence_gap", wen, aditi, since="2026-01-13T16:00:00Z"),
        ],
    }
    return s, expect


def all_day_and_room_only() -> tuple[Story, dict]:
    """All-day blocks never double-book; a room booking is an event like any other."""
    yara, umar = "yara.schmidt@acme.test", "umar.abbott@acme.test"
    room_g, room_m = "room.berlin-3@acme.test", "room.berlin-4@acme.test"
    s = Story(
        "14-all-day-and-room-only",
        start=START,
        now=NOW,
        seed=14,
        description=(
            "Yara (Google) / Umar (Outlook), weekly Wednesdays 14:00 Berlin. Yara's all-day offsite on 11 Feb "
            "and Umar's all-day vacation on 18 Feb (both busy) overlap 1:1s but are not timed: no finding. "
            "Yara books a room for herself alone on 25 Feb 14:15-15:00 (Google, resource attendee): a busy "
            "timed event on her calendar, so double_booked by the manager. Umar books a room alone on 11 Mar "
            "14:00-14:30 (Outlook, resource attendee): the upcoming 1:1 is double_booked by the report. A "
            "one-off on Friday 27 Feb organized by Umar with Yara and a room is a 1:1 (rooms are not people)."
        ),
    )
    s.person(yara, "Yara Schmidt", provider="google")
    s.person(umar, "Umar Abbott", manager=yara, provider="microsoft")
    s.series(yara, [umar], at=START, first="2026-01-07T14:00", rule=Weekly("WE"))
    s.single(
        yara, [], at="2026-01-20T09:00:00Z", start="2026-02-11T00:00", minutes=24 * 60, all_day=True, title="Offsite"
    )
    s.single(
        umar,
        [],
        at="2026-01-20T09:00:00Z",
        start="2026-02-18T00:00",
        minutes=24 * 60,
        all_day=True,
        title="Vacation",
        busy=True,
    )
    s.single(
        yara,
        [],
        at="2026-02-20T09:00:00Z",
        start="2026-02-25T14:15",
        minutes=45,
        rooms=[room_g],
        title="Room for interviews",
    )
    s.single(
        umar,
        [yara],
        at="2026-02-23T09:00:00Z",
        start="2026-02-27T10:00",
        minutes=30,
        rooms=[room_m],
        title="Umar / Yara, in Berlin 4",
    )
    s.single(
        umar, [], at="2026-03-02T09:00:00Z", start="2026-03-11T14:00", minutes=30, rooms=[room_m], title="Berlin 4 hold"
    )
    weekly = [f"2026-{d}T13:00:00Z" for d in ("01-07", "01-14", "01-21", "01-28", "02-04", "02-11", "02-18", "02-25")]
    expect = {
        "pairs": [pair(yara, umar, "weekly", 7)],
        "meetings": [meeting(yara, umar, t, "held") for t in weekly]
        + [
            meeting(yara, umar, "2026-02-27T09:00:00Z", "held"),
            meeting(yara, umar, "2026-03-04T13:00:00Z", "scheduled"),
            meeting(yara, umar, "2026-03-11T13:00:00Z", "scheduled"),
        ],
        "findings": [
            finding("double_booked", yara, umar, occurrence_start="2026-02-25T13:00:00Z", by="manager"),
            finding("double_booked", yara, umar, occurrence_start="2026-03-11T13:00:00Z", by="report"),
        ],
    }
    return s, expect


def series_deleted_then_recreated() -> tuple[Story, dict]:
    """A deleted series' later slots are cancelled without a finding of their own;
    the new series sets the cadence; the hole between them is a cadence gap."""
    nils, olga = "nils.vogel@acme.test", "olga.walsh@acme.test"
    s = Story(
        "15-series-deleted-then-recreated",
        start=START,
        now=NOW,
        seed=15,
        description=(
            "Nils / Olga on Google, weekly Mondays 09:00 Berlin, deleted on Wednesday 4 Feb: its slots from "
            "9 Feb on are cancelled (series deleted: no cancelled_without_reschedule), those before stay "
            "held. On 13 Feb a new weekly series starts on Thursdays 11:00 from 19 Feb: the most recent series, "
            "weekly. Held 2 Feb 08:00, next held 19 Feb 10:00: a cadence gap."
        ),
    )
    s.person(nils, "Nils Vogel", provider="google")
    s.person(olga, "Olga Walsh", manager=nils, provider="google")
    old = s.series(nils, [olga], at=START, first="2026-01-05T09:00", rule=Weekly("MO"))
    s.delete(old, at="2026-02-04T12:00:00Z")
    s.series(
        nils,
        [olga],
        at="2026-02-13T09:00:00Z",
        first="2026-02-19T11:00",
        rule=Weekly("TH"),
        title="Nils / Olga 1:1 (new slot)",
    )
    mondays_held = [f"2026-{d}T08:00:00Z" for d in ("01-05", "01-12", "01-19", "01-26", "02-02")]
    mondays_gone = [f"2026-{d}T08:00:00Z" for d in ("02-09", "02-16", "02-23", "03-02", "03-09", "03-16")]
    expect = {
        "pairs": [pair(nils, olga, "weekly", 7)],
        "meetings": [meeting(nils, olga, t, "held") for t in mondays_held]
        + [meeting(nils, olga, t, "cancelled") for t in mondays_gone]
        + [
            meeting(nils, olga, "2026-02-19T10:00:00Z", "held"),
            meeting(nils, olga, "2026-02-26T10:00:00Z", "held"),
            meeting(nils, olga, "2026-03-05T10:00:00Z", "scheduled"),
            meeting(nils, olga, "2026-03-12T10:00:00Z", "scheduled"),
        ],
        "findings": [finding("cadence_gap", nils, olga, since="2026-02-02T08:00:00Z")],
    }
    return s, expect


def decline_after_the_fact() -> tuple[Story, dict]:
    """SPEC's `declined` has no time condition: only a cancellation or deletion at or
    after the start leaves an occurrence as it was. A decline made while a 1:1 runs
    or after it ended counts; the latest answer counts, whenever given."""
    maya, li = "maya.diaz@acme.test", "li.wei@acme.test"
    grace, hugo = "grace.hughes@acme.test", "hugo.bernard@acme.test"
    nora, kai = "nora.lind@acme.test", "kai.berg@acme.test"
    s = Story(
        "31-decline-after-the-fact",
        start=START,
        now=NOW,
        seed=31,
        description=(
            "Declines made at or after an occurrence's start count (SPEC: `declined` has no time condition; "
            "only a cancellation or deletion at or after the start leaves an occurrence as it was). "
            "Maya / Li (Google), weekly Mondays 09:00 Berlin: Li declines 9 Feb three and a half hours after it "
            "ended, 16 Feb ten minutes into it, and 23 Feb the day after; a one-off on 11 Feb the day after. All "
            "four are declined, with declined findings; Li's busy block over 23 Feb no longer double-books a "
            "declined 1:1; held 2 Feb to held 2 Mar is a cadence gap. Grace / Hugo (Outlook), weekly Tuesdays "
            "16:00 Berlin: Hugo declines 10 Feb the day after (declined); declines 17 Feb the day before and "
            "accepts it the day after (the latest answer: held); declines 24 Feb half an hour after it ended, "
            "and Grace cancels it the next day (a cancellation after the start: it stays declined, no "
            "cancelled_without_reschedule). Cadence gaps since 3 Feb and 17 Feb. Nora (Google) / Kai (Outlook), "
            "weekly Wednesdays 12:00 Berlin: Kai declines 11 Feb two days later, in both copies: declined, and "
            "a cadence gap since 4 Feb."
        ),
    )
    s.person(maya, "Maya Diaz", provider="google")
    s.person(li, "Li Wei", manager=maya, provider="google")
    s.person(grace, "Grace Hughes", provider="microsoft")
    s.person(hugo, "Hugo Bernard", manager=grace, provider="microsoft")
    s.person(nora, "Nora Lind", provider="google")
    s.person(kai, "Kai Berg", manager=nora, provider="microsoft")

    a = s.series(maya, [li], at=START, first="2026-01-05T09:00", rule=Weekly("MO"))
    s.respond(a, li, "declined", at="2026-02-09T12:00:00Z", original_start="2026-02-09T08:00:00Z")
    s.respond(a, li, "declined", at="2026-02-16T08:10:00Z", original_start="2026-02-16T08:00:00Z")
    s.single(li, [], at="2026-02-01T09:00:00Z", start="2026-02-23T09:00", minutes=60, title="Dentist")
    s.respond(a, li, "declined", at="2026-02-24T08:00:00Z", original_start="2026-02-23T08:00:00Z")
    chat = s.single(maya, [li], at="2026-02-02T09:00:00Z", start="2026-02-11T15:00", title="Career chat")
    s.respond(chat, li, "declined", at="2026-02-12T09:00:00Z")

    b = s.series(grace, [hugo], at=START, first="2026-01-06T16:00", rule=Weekly("TU"))
    s.respond(b, hugo, "declined", at="2026-02-11T09:00:00Z", original_start="2026-02-10T15:00:00Z")
    s.respond(b, hugo, "declined", at="2026-02-16T09:00:00Z", original_start="2026-02-17T15:00:00Z")
    s.respond(b, hugo, "accepted", at="2026-02-18T09:00:00Z", original_start="2026-02-17T15:00:00Z")
    s.respond(b, hugo, "declined", at="2026-02-24T16:00:00Z", original_start="2026-02-24T15:00:00Z")
    s.cancel(b, "2026-02-24T15:00:00Z", at="2026-02-25T09:00:00Z")

    c = s.series(nora, [kai], at=START, first="2026-01-07T12:00", rule=Weekly("WE"))
    s.respond(c, kai, "declined", at="2026-02-13T09:00:00Z", original_start="2026-02-11T11:00:00Z")

    def days(prefix: str, hour: str, held: str, declined: str = "", scheduled: str = "") -> list[dict]:
        out = []
        for status, dates in (("held", held), ("declined", declined), ("scheduled", scheduled)):
            out += [meeting(*prefix, f"2026-{d}T{hour}:00:00Z", status) for d in dates.split()]
        return out

    expect = {
        "pairs": [pair(maya, li, "weekly", 7), pair(grace, hugo, "weekly", 7), pair(nora, kai, "weekly", 7)],
        "meetings": days((maya, li), "08", "01-05 01-12 01-19 01-26 02-02 03-02", "02-09 02-16 02-23", "03-09 03-16")
        + [meeting(maya, li, "2026-02-11T14:00:00Z", "declined")]
        + days((grace, hugo), "15", "01-06 01-13 01-20 01-27 02-03 02-17 03-03", "02-10 02-24", "03-10 03-17")
        + days((nora, kai), "11", "01-07 01-14 01-21 01-28 02-04 02-18 02-25", "02-11", "03-04 03-11"),
        "findings": [
            finding("declined", maya, li, occurrence_start=f"2026-{d}:00:00Z", by="report")
            for d in ("02-09T08", "02-11T14", "02-16T08", "02-23T08")
        ]
        + [finding("cadence_gap", maya, li, since="2026-02-02T08:00:00Z")]
        + [
            finding("declined", grace, hugo, occurrence_start=f"2026-{d}T15:00:00Z", by="report")
            for d in ("02-10", "02-24")
        ]
        + [finding("cadence_gap", grace, hugo, since=f"2026-{d}T15:00:00Z") for d in ("02-03", "02-17")]
        + [
            finding("declined", nora, kai, occurrence_start="2026-02-11T11:00:00Z", by="report"),
            finding("cadence_gap", nora, kai, since="2026-02-04T11:00:00Z"),
        ],
    }
    return s, expect


STORIES = [
    cancel_after_moved_start,
    reschedule_at_half_interval,
    windows_zone_relative_monthly,
    all_day_and_room_only,
    series_deleted_then_recreated,
    decline_after_the_fact,
]


def main() -> None:
    for build in STORIES:
        story, expect = build()
        story.write(HERE / f"{story.name}.json", expect)
        print(f"wrote {story.name}.json ({len(story.timeline)} operations)")


if __name__ == "__main__":
    main()
