"""Writes the bundled demo scenario, service/sandbox/scenarios/demo.json.

    .venv/bin/python -m bench.gen_demo_scenario
    .venv/bin/python -m bench.gen_demo_scenario --smoke   (into a temporary file, checked: tests/bench)

An org of eight on Google and Outlook, three months of 1:1s up to Friday
2026-11-20 16:00 UTC: two clean series (weekly, monthly), and one story for
each finding type. `expect` lists the pairs and findings the story plants (see
the comments); `oneonone replay` must reproduce them (tests/test_demo.py)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.scenario_kit import MonthlyOnWeekday, Story, Weekly

TARGET = Path(__file__).resolve().parents[1] / "service" / "sandbox" / "scenarios" / "demo.json"

ADA, MAYA, LI, OMAR = "ada.okoye@acme.test", "maya.diaz@acme.test", "li.wei@acme.test", "omar.haddad@acme.test"
PRIYA, SAM, JONAS, HANA = (
    "priya.sharma@acme.test",
    "sam.lee@acme.test",
    "jonas.berg@acme.test",
    "hana.fischer@acme.test",
)


def story() -> tuple[Story, dict]:
    s = Story(
        "demo",
        start="2026-08-24T00:00:00Z",
        now="2026-11-20T16:00:00Z",
        seed=2026,
        description=(
            "The demo org (`make run`): Ada (CEO) manages Maya, Sam and Hana; Maya manages Li, Omar and Priya; "
            "Sam manages Jonas. Google and Outlook calendars, weekly, biweekly and monthly 1:1s over three "
            "months. Clean: Ada/Maya (biweekly, with a room), Ada/Hana (monthly, first Thursday). Planted: "
            "a 1:1 moved 90 minutes ahead (Maya/Li), a cancellation rescheduled two days later (Maya/Omar, no "
            "finding) and one cancelled 20 hours ahead with no replacement (Maya/Omar), an occurrence cut from "
            "45 to 20 minutes and two double bookings, one upcoming (Maya/Priya), a declined occurrence "
            "(Sam on Ada/Sam), and a weekly series deleted mid-October (Sam/Jonas). A weekly team sync and an "
            "all-day conference are not 1:1s."
        ),
    )
    s.person(ADA, "Ada Okoye", tz="Europe/Berlin", provider="google")
    s.person(MAYA, "Maya Diaz", manager=ADA, tz="Europe/Berlin", provider="google")
    s.person(LI, "Li Wei", manager=MAYA, tz="Europe/Berlin", provider="google")
    s.person(OMAR, "Omar Haddad", manager=MAYA, tz="Europe/London", provider="microsoft")
    s.person(PRIYA, "Priya Sharma", manager=MAYA, tz="Asia/Kolkata", provider="microsoft")
    s.person(SAM, "Sam Lee", manager=ADA, tz="America/New_York", provider="microsoft")
    s.person(JONAS, "Jonas Berg", manager=SAM, tz="Europe/Berlin", provider="microsoft")
    s.person(HANA, "Hana Fischer", manager=ADA, tz="Europe/Berlin", provider="google")
    start = s.start

    # Clean: biweekly Wednesdays 16:00 Berlin, in a room; monthly on the first Thursday.
    s.series(
        ADA,
        [MAYA],
        at=start,
        first="2026-08-26T16:00",
        rule=Weekly("WE", 2),
        minutes=45,
        rooms=["room.atlas@acme.test"],
    )
    s.series(ADA, [HANA], at=start, first="2026-09-03T11:00", rule=MonthlyOnWeekday("TH", 1), minutes=60)

    # Ada (Google) / Sam (Outlook), biweekly Tuesdays 11:00 New York. Sam declines 13 Oct:
    # declined (report), and 29 Sep → 27 Oct is a 28-day gap (> 1.5 × 14).
    ada_sam = s.series(
        ADA, [SAM], at=start, first="2026-09-01T11:00", rule=Weekly("TU", 2), minutes=30, tz="America/New_York"
    )
    s.respond(ada_sam, SAM, "declined", at="2026-10-12T14:00:00Z", original_start="2026-10-13T15:00:00Z")

    # Maya / Li (Google), weekly Mondays 10:00 Berlin. 19 Oct is moved at 06:30 UTC to 15:00:
    # 1.5 h of notice → late_reschedule.
    maya_li = s.series(MAYA, [LI], at=start, first="2026-08-24T10:00", rule=Weekly("MO"), minutes=30)
    s.move(maya_li, "2026-10-19T08:00:00Z", at="2026-10-19T06:30:00Z", start="2026-10-19T15:00")

    # Maya (Google) / Omar (Outlook), weekly Tuesdays 14:00 Berlin. 15 Sep is cancelled and
    # replaced on Thursday 17 Sep (within ±3.5 days: no finding); 3 Nov is cancelled 20 h ahead
    # with no replacement → cancelled_without_reschedule, and 27 Oct → 10 Nov is a cadence gap.
    maya_omar = s.series(MAYA, [OMAR], at=start, first="2026-08-25T14:00", rule=Weekly("TU"), minutes=30)
    s.cancel(maya_omar, "2026-09-15T12:00:00Z", at="2026-09-11T09:00:00Z")
    s.single(
        MAYA,
        [OMAR],
        at="2026-09-11T09:05:00Z",
        start="2026-09-17T14:00",
        minutes=30,
        title="Maya / Omar 1:1 (moved from Tuesday)",
    )
    s.cancel(maya_omar, "2026-11-03T13:00:00Z", at="2026-11-02T17:00:00Z")

    # Maya (Google) / Priya (Outlook), biweekly Thursdays 11:00 Berlin, 45 minutes. 8 Oct is cut
    # to 20 minutes → shortened; Priya's customer call overlaps 19 Nov → double_booked (report);
    # Maya's board prep overlaps the upcoming 3 Dec → double_booked (manager).
    maya_priya = s.series(MAYA, [PRIYA], at=start, first="2026-08-27T11:00", rule=Weekly("TH", 2), minutes=45)
    s.move(maya_priya, "2026-10-08T09:00:00Z", at="2026-10-07T10:00:00Z", start="2026-10-08T11:00", minutes=20)
    s.single(PRIYA, [], at="2026-11-10T05:00:00Z", start="2026-11-19T15:00", minutes=60, title="Customer call")
    s.single(MAYA, [], at="2026-11-18T08:00:00Z", start="2026-12-03T10:30", minutes=60, title="Board prep")

    # Sam / Jonas (both Outlook), weekly Thursdays 09:00 New York, deleted on 20 Oct: the later
    # occurrences are cancelled with the series → cadence_gap since 15 Oct, and no_upcoming.
    sam_jonas = s.series(SAM, [JONAS], at=start, first="2026-08-27T09:00", rule=Weekly("TH"), minutes=30)
    s.delete(sam_jonas, at="2026-10-20T12:00:00Z")

    # Not 1:1s: Maya's weekly team sync with her three reports; Jonas' all-day conference.
    s.series(
        MAYA, [LI, OMAR, PRIYA], at=start, first="2026-08-26T09:30", rule=Weekly("WE"), minutes=30, title="Team sync"
    )
    s.single(
        JONAS,
        [],
        at="2026-10-01T08:00:00Z",
        start="2026-11-05T00:00",
        minutes=2 * 24 * 60,
        title="KubeCon",
        all_day=True,
    )

    def pair(manager, report, cadence, days):
        return {"manager": manager, "report": report, "cadence": cadence, "interval_days": days}

    def finding(type_, manager, report, **key):
        return {"type": type_, "manager": manager, "report": report, **key}

    expect = {
        "pairs": [
            pair(ADA, HANA, "monthly", 30),
            pair(ADA, MAYA, "biweekly", 14),
            pair(ADA, SAM, "biweekly", 14),
            pair(MAYA, LI, "weekly", 7),
            pair(MAYA, OMAR, "weekly", 7),
            pair(MAYA, PRIYA, "biweekly", 14),
            pair(SAM, JONAS, "weekly", 7),
        ],
        "findings": [
            finding("declined", ADA, SAM, occurrence_start="2026-10-13T15:00:00Z", by="report"),
            finding("cadence_gap", ADA, SAM, since="2026-09-29T15:00:00Z"),
            finding("late_reschedule", MAYA, LI, occurrence_start="2026-10-19T08:00:00Z"),
            finding("cancelled_without_reschedule", MAYA, OMAR, occurrence_start="2026-11-03T13:00:00Z"),
            finding("cadence_gap", MAYA, OMAR, since="2026-10-27T13:00:00Z"),
            finding("shortened", MAYA, PRIYA, occurrence_start="2026-10-08T09:00:00Z"),
            finding("double_booked", MAYA, PRIYA, occurrence_start="2026-11-19T10:00:00Z", by="report"),
            finding("double_booked", MAYA, PRIYA, occurrence_start="2026-12-03T10:00:00Z", by="manager"),
            finding("cadence_gap", SAM, JONAS, since="2026-10-15T13:00:00Z"),
            finding("no_upcoming", SAM, JONAS),
        ],
    }
    return s, expect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="write a temporary file, check it as `oneonone replay` reads it and that it is the bundled one",
    )
    args = parser.parse_args(argv)
    s, expect = story()
    if not args.smoke:
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        s.write(TARGET, expect)
        print(f"wrote {TARGET} ({len(s.timeline)} operations)\n\n{s.table()}")
        return 0
    from service.replay.validate import load

    with tempfile.TemporaryDirectory(prefix="oneonone-gen-") as folder:
        output = Path(folder) / "demo.json"
        s.write(output, expect)
        load(output)  # raises ScenarioError naming the bad entry
        if output.read_bytes() != TARGET.read_bytes():
            print(f"{TARGET} is not what the story writes: run `python -m bench.gen_demo_scenario`", file=sys.stderr)
            return 1
    print(f"the story writes {TARGET.name} as bundled ({len(s.timeline)} operations)\n\n{s.table()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
