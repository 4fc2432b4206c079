"""A large organisation's year of calendars as one `oneonone-scenario/1` file.

    .venv/bin/python -m bench.gen_org_scenario --people 2000 --months 12 -o /tmp/org.json
    time .venv/bin/oneonone replay /tmp/org.json --json > /tmp/org.out.json
    .venv/bin/python -m bench.gen_org_scenario --smoke   (16 people × 2 months, checked: tests/bench)

Managers have seven reports each (the first person is the CEO); 60 % of people
are on Google and 40 % on Outlook, spread over six time zones. Every reporting
line gets a 1:1 series in the organizer's zone and working hours (weekly 60 %,
biweekly 30 %, monthly 10 %; 30, 45 or 60 minutes; where both are free of
other recurring meetings; a tenth organized by the report, a tenth starting
mid-year), except 4 % of pairs that never meet. Over
the year each series sees what real calendars see: cancellations (half of them
rebooked a day or two later as a one-off), moves with short or long notice,
shortened and declined occurrences, a tenth re-timed mid-year ("this and
following": the old series ends, a new one starts on another day), one in
twenty deleted (half of those re-created later). Each manager also has a weekly
team sync, and everyone a few busy blocks (some overlapping a 1:1). Seeded:
the same arguments give the same file."""

from __future__ import annotations

import argparse
import random
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.scenario_kit import Meeting, MonthlyOnDay, Story, Weekly, instant, slots

UTC = UTC
ZONES = [
    ("Europe/Berlin", 35),
    ("Europe/London", 15),
    ("America/New_York", 20),
    ("America/Los_Angeles", 10),
    ("Asia/Kolkata", 15),
    ("Asia/Tokyo", 5),
]
DAYS = ["MO", "TU", "WE", "TH", "FR"]
TEAM = 7
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class _Org:
    def __init__(self, people: int, months: int, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.now = NOW
        self.start = (NOW - timedelta(days=round(30.44 * months))).replace(hour=0, minute=0)
        self.story = Story(
            f"org-{people}-{months}m",
            start=self.start.isoformat(),
            now=NOW.isoformat(),
            seed=seed,
            description=__doc__.split("\n\n")[2].replace("\n", " "),
        )
        zones, weights = zip(*ZONES)
        self.emails = [f"p{i:05d}@big.test" for i in range(people)]
        for i, email in enumerate(self.emails):
            self.story.person(
                email,
                f"Person {i:05d}",
                manager=self.emails[(i - 1) // TEAM] if i else None,
                tz=self.rnd.choices(zones, weights)[0],
                provider="google" if self.rnd.random() < 0.6 else "microsoft",
            )

        # Each person's recurring meetings as (start, end) minutes of a UTC week: new
        # series go where everyone invited is free, as people book them.
        self.week: dict[str, list[tuple[int, int]]] = {}

    # -- helpers -----------------------------------------------------------------------
    def local_slot(self, zone: str, day: date) -> str:
        """A working-hours start on `day` in `zone`, on the quarter hour."""
        hour = self.rnd.randint(9, 16)
        minute = self.rnd.choice((0, 15, 30, 45)) if hour < 16 else 0
        return datetime(day.year, day.month, day.day, hour, minute).isoformat()

    def free_slot(self, people: list[str], zone: str, after: datetime, minutes: int) -> tuple[date, str]:
        """A first day after `after` and a local start on it when `people` have no
        recurring meeting yet (the best of a few tries); booked for them."""
        best = None
        for _ in range(40):
            day = self.first_day(after, self.rnd.randrange(5))
            start = self.local_slot(zone, day)
            utc = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
            begin = utc.weekday() * 1440 + utc.hour * 60 + utc.minute
            span = (begin, begin + minutes)
            clashes = sum(1 for p in people for a, b in self.week.get(p, ()) if a < span[1] and span[0] < b)
            if best is None or clashes < best[0]:
                best = (clashes, day, start, span)
            if not clashes:
                break
        _, day, start, span = best
        for p in people:
            self.week.setdefault(p, []).append(span)
        return day, start

    def first_day(self, after: datetime, weekday: int) -> date:
        d = after.date() + timedelta(days=1)
        while d.weekday() != weekday:
            d += timedelta(days=1)
        return d

    def at_before(self, moment: datetime, lo: datetime, hours: tuple[float, float]) -> datetime | None:
        """A change time some hours before `moment`, not before `lo`, never after now."""
        at = moment - timedelta(hours=self.rnd.uniform(*hours))
        at = at.replace(second=0, microsecond=0)
        if at < lo or at > self.now:
            return None
        return at

    def local(self, m: Meeting, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(m.tz)).replace(tzinfo=None)

    # -- one reporting line ------------------------------------------------------------
    def one_on_one(self, manager: str, report: str) -> None:
        rnd, s = self.rnd, self.story
        if rnd.random() < 0.04:
            return  # a pair that never meets
        organizer, attendee = (report, manager) if rnd.random() < 0.1 else (manager, report)
        zone = s.people[organizer].tz
        kind = rnd.choices(("weekly", "biweekly", "monthly"), (60, 30, 10))[0]
        created = self.start if rnd.random() < 0.9 else self.start + timedelta(days=self.late_start())
        m = self.series(organizer, attendee, zone, kind, created)
        end = self.now + timedelta(days=10)
        if rnd.random() < 0.1:  # re-timed mid-year: this and following
            cut = created + timedelta(days=rnd.randint(60, 200))
            if cut < self.now - timedelta(days=7):
                self.changes(m, created, min(cut, end))
                kept = [t for t in slots(m, cut.date()) if t < cut]
                if kept:
                    s.end_series(m, at=cut, last=self.local(m, kept[-1]).isoformat())
                    m = self.series(organizer, attendee, zone, kind, cut)
                    created = cut
        if rnd.random() < 0.05:  # deleted, sometimes re-created
            gone = created + timedelta(days=rnd.randint(30, 300))
            if gone < self.now:
                self.changes(m, created, gone)
                s.delete(m, at=gone)
                if rnd.random() < 0.5 and gone + timedelta(days=21) < self.now:
                    again = gone + timedelta(days=rnd.randint(7, 21))
                    self.changes(self.series(organizer, attendee, zone, kind, again), again, end)
                return
        self.changes(m, created, end)

    def late_start(self) -> int:
        """Days after `start` for a series that starts mid-story: up to 240, but a
        month before `now` at the latest (a short story, `--months` below 9)."""
        return min(self.rnd.randint(30, 240), (self.now - self.start).days - 30)

    def series(self, organizer: str, attendee: str, zone: str, kind: str, created: datetime) -> Meeting:
        minutes = self.rnd.choice((30, 30, 45, 60))
        day, start = self.free_slot([organizer, attendee], zone, created, minutes)
        if kind == "monthly":  # on that day of the month (28th at the latest)
            rule = MonthlyOnDay(min(day.day, 28))
            start = day.replace(day=min(day.day, 28)).isoformat() + start[10:]
        else:
            rule = Weekly(DAYS[day.weekday()], 2 if kind == "biweekly" else 1)
        return self.story.series(organizer, [attendee], at=created, first=start, rule=rule, minutes=minutes, tz=zone)

    def changes(self, m: Meeting, created: datetime, until: datetime) -> None:
        """Cancellations, moves, shortenings and declines on slots in (created, until]."""
        rnd, s = self.rnd, self.story
        candidates = [t for t in slots(m, until.date()) if created + timedelta(days=2) < t <= until]
        if not candidates:
            return
        weeks = max(1, (until - created).days // 7)
        count = min(len(candidates), rnd.randint(0, max(1, weeks // 8)))
        for slot in rnd.sample(candidates, count):
            kind = rnd.choices(("cancel", "move", "shorten", "decline"), (40, 35, 10, 15))[0]
            at = self.at_before(slot, created + timedelta(hours=1), (1, 120) if kind != "decline" else (2, 200))
            if at is None:
                continue
            local = self.local(m, slot)
            if kind == "cancel":
                s.cancel(m, slot, at=at)
                if rnd.random() < 0.5:  # rebooked as a one-off
                    later = local + timedelta(days=rnd.choice((1, 2)), hours=rnd.choice((0, 1, -1)))
                    s.single(
                        m.organizer,
                        m.attendees,
                        at=at + timedelta(minutes=5),
                        start=later.isoformat(),
                        minutes=m.minutes,
                        tz=m.tz,
                        title=f"{m.title} (rebooked)",
                    )
            elif kind == "move":
                s.move(m, slot, at=at, start=(local + timedelta(hours=rnd.choice((-2, -1, 1, 2, 24)))).isoformat())
            elif kind == "shorten":
                s.move(m, slot, at=at, start=local.isoformat(), minutes=max(10, m.minutes // 2))
            else:
                s.respond(m, m.attendees[0], "declined", at=at, original_start=slot)

    # -- noise ---------------------------------------------------------------------------
    def team_sync(self, manager: str, reports: list[str]) -> None:
        zone = self.story.people[manager].tz
        day, start = self.free_slot([manager, *reports], zone, self.start, 30)
        self.story.series(
            manager,
            reports,
            at=self.start,
            first=start,
            rule=Weekly(DAYS[day.weekday()]),
            minutes=30,
            tz=zone,
            title="Team sync",
        )

    def busy_blocks(self, email: str, count: int) -> None:
        zone = self.story.people[email].tz
        span = (self.now - self.start).days + 14
        for _ in range(count):
            day = (self.start + timedelta(days=self.rnd.randrange(3, span))).date()
            if day.weekday() >= 5:
                continue
            start = self.local_slot(zone, day)
            created = instant(datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(zone))) - timedelta(
                days=self.rnd.randint(1, 10)
            )
            created = max(created, self.start)
            if created > self.now:
                continue
            self.story.single(
                email,
                [],
                at=created,
                start=start,
                minutes=self.rnd.choice((30, 60, 90)),
                tz=zone,
                title=self.rnd.choice(("Focus", "Customer call", "Interview", "Dentist")),
            )

    def build(self) -> Story:
        teams: dict[str, list[str]] = {}
        for i, email in enumerate(self.emails[1:], 1):
            manager = self.emails[(i - 1) // TEAM]
            teams.setdefault(manager, []).append(email)
            self.one_on_one(manager, email)
        for manager, reports in teams.items():
            if len(reports) >= 2:
                self.team_sync(manager, reports)
        for email in self.emails:
            self.busy_blocks(email, self.rnd.randint(1, 5))
        return self.story


def org_story(people: int, months: int, seed: int = 1) -> Story:
    """The organisation's story (`.document()` is the scenario)."""
    return _Org(people, months, seed).build()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-o", "--output", help="the scenario file to write (--smoke: a temporary one by default)")
    parser.add_argument(
        "--smoke", action="store_true", help="16 people × 2 months, checked as `oneonone replay` reads it (tests/bench)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.people, args.months = 16, 2
    elif not args.output:
        parser.error("the following arguments are required: -o/--output")
    story = org_story(args.people, args.months, args.seed)
    with tempfile.TemporaryDirectory(prefix="oneonone-gen-") as folder:
        output = args.output or str(Path(folder) / "org.json")
        story.write(output, indent=None)
        if args.smoke:
            from service.replay.validate import load

            load(Path(output))  # raises ScenarioError naming the bad entry
        print(f"wrote {output}: {len(story.people)} people, {len(story.timeline)} operations\n\n{story.table()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
