"""The outbox: each change records its event in its own transaction (a rolled-back
recompute records nothing), with ids, types and times only (never a title, agenda
text, note or person's name), and `meeting.upcoming` once per meeting and start."""

from __future__ import annotations

import re
from datetime import timedelta

import orjson
from sqlalchemy import select

from service.api.schemas.webhook_events import ENVELOPES
from service.db.models import AgendaItem, Calendar, Meeting, OutboxEvent, Person, SharedNote
from service.domain import outbox
from service.domain.findings import FindingType
from service.domain.recompute import recompute
from tests.domain.detection.builders import utc
from tests.domain.test_schedule import START, add_revisions, li_pair, load_world, story

NINTH, SIXTEENTH = utc("2026-03-09T08:00Z"), utc("2026-03-16T08:00Z")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
ENUMS = set(outbox.EVENT_TYPES) | {t.value for t in FindingType}


async def events(sessions) -> list[OutboxEvent]:
    async with sessions() as s:
        return list((await s.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all())


async def calendar_ids(sessions) -> dict[str, int]:
    async with sessions() as s:
        rows = await s.execute(select(Person.email, Calendar.id).join(Calendar, Calendar.person_id == Person.id))
        return dict(rows.all())


async def recompute_at(sessions, now, *, commit: bool = True) -> None:
    async with sessions() as s:
        await recompute(s, now)
        await (s.commit() if commit else s.rollback())


def assert_published(e: OutboxEvent) -> None:
    """The body sent for the event matches the schema the OpenAPI document publishes."""
    body = {"id": e.event_id, "type": e.type, "timestamp": outbox.timestamp(e.occurred_at), "data": e.payload}
    ENVELOPES[e.type].model_validate(body)


def assert_ids_types_and_times_only(payload: dict, deny: set[str]) -> None:
    text = orjson.dumps(payload).decode()
    # Texts of a few characters (the story's 1:1 is titled "s") are covered by the
    # check of every value below.
    leaked = sorted(word for word in deny if len(word) >= 4 and word in text)
    assert not leaked, (leaked, payload)
    for key, value in payload.items():
        if isinstance(value, str):
            assert RFC3339.fullmatch(value) or value in ENUMS, (key, value)
        elif isinstance(value, list):
            assert all(type(v) is int for v in value), (key, value)
        else:
            assert value is None or type(value) in (int, bool), (key, value)


async def deny_list(sessions) -> set[str]:
    """Every text the database holds that no payload may carry."""
    async with sessions() as s:
        texts = set((await s.scalars(select(AgendaItem.body))).all())
        texts |= set((await s.scalars(select(SharedNote.body))).all())
        texts |= {t for t in (await s.scalars(select(Meeting.title))).all() if t != "1:1"}
        for name, email in (await s.execute(select(Person.name, Person.email))).all():
            texts |= {name, email}
    return texts


async def test_changes_record_their_events_in_their_own_transaction(sessions):
    w = story()
    async with sessions() as s:
        await load_world(s, w, START)
        await s.commit()
    seen = len([c for stream in w.history.changes.values() for c in stream])
    await recompute_at(sessions, START)
    first = await events(sessions)
    assert [(e.type, e.payload["finding_type"]) for e in first] == [("finding.opened", "no_upcoming")]  # omar's
    assert re.fullmatch(r"evt_[0-9A-HJKMNP-TV-Z]{26}", first[0].event_id)

    pair = await li_pair(sessions)
    async with sessions() as s:
        ninth = await s.scalar(select(Meeting).where(Meeting.pair_id == pair.id, Meeting.original_start == NINTH))
        for body, private in (("promotion path to staff", False), ("my own worry about pay", True)):
            s.add(
                AgendaItem(
                    meeting_id=ninth.id,
                    author_id=pair.report_id,
                    body=body,
                    private=private,
                    created_at=START,
                    updated_at=START,
                )
            )
        s.add(SharedNote(meeting_id=ninth.id, body="we talked about the reorg", updated_at=START, version=1))
        await s.commit()

    # Maya cancels the 9 March 1:1: the recompute that sees it rolls back first (no
    # event), then commits (its events, in its order).
    ids = await calendar_ids(sessions)
    w.cancel_occurrence("s", "2026-03-09T08:00Z", at="2026-03-03T09:00Z")
    async with sessions() as s:
        seen = add_revisions(s, w, ids, since=seen)
        await s.commit()
    later = START + timedelta(days=1)
    await recompute_at(sessions, later, commit=False)
    assert len(await events(sessions)) == 1
    await recompute_at(sessions, later)
    new = (await events(sessions))[1:]
    assert [e.type for e in new] == ["meeting.cancelled", "finding.opened", "agenda.carried_over"]
    cancelled, opened, carried = (e.payload for e in new)
    assert cancelled == {
        "meeting_id": ninth.id,
        "pair_id": pair.id,
        "manager_id": pair.manager_id,
        "report_id": pair.report_id,
        "start": "2026-03-09T08:00:00Z",
        "end": "2026-03-09T08:30:00Z",
        "original_start": "2026-03-09T08:00:00Z",
        "cancelled_at": "2026-03-03T09:00:00Z",
        "removed": False,
    }
    assert opened["finding_type"] == "cancelled_without_reschedule" and opened["meeting_id"] == ninth.id
    assert carried["from_meeting_id"] == ninth.id and len(carried["item_ids"]) == 1  # the shared point only
    assert all(e.pair_id == pair.id for e in new)

    # Moving the 16 March 1:1 reschedules it; recomputing again records nothing new.
    w.move_occurrence("s", "2026-03-16T08:00Z", at="2026-03-04T09:00Z", start="2026-03-17T10:00Z")
    async with sessions() as s:
        add_revisions(s, w, ids, since=seen)
        await s.commit()
    await recompute_at(sessions, later + timedelta(days=1))
    await recompute_at(sessions, later + timedelta(days=1))
    moved = (await events(sessions))[4:]
    assert [e.type for e in moved] == ["meeting.rescheduled"]
    assert moved[0].payload["previous_start"] == "2026-03-16T08:00:00Z"
    assert moved[0].payload["start"] == "2026-03-17T10:00:00Z"

    deny = await deny_list(sessions)
    assert {"promotion path to staff", "my own worry about pay", "we talked about the reorg"} <= deny
    for e in await events(sessions):
        assert_ids_types_and_times_only(e.payload, deny)
        assert_published(e)


async def test_upcoming_is_announced_once_per_meeting_and_start(sessions, factory, clock):
    manager = await factory.person(name="Maya Diaz")
    report = await factory.person(manager=manager, name="Li Wei")
    pair = await factory.pair(manager, report)
    now = clock.now()
    soon = await factory.meeting(pair, start=now + timedelta(hours=3), title="Career chat")
    later = await factory.meeting(pair, start=now + timedelta(hours=20))
    await factory.meeting(pair, start=now + timedelta(hours=30))  # beyond the lead time
    await factory.meeting(pair, start=now + timedelta(hours=2), status="cancelled")
    await factory.agenda_item(soon, report, body="shared point")
    await factory.agenda_item(later, report, body="private point", private=True)
    lead = timedelta(hours=24)

    async def emit(at) -> int:
        async with sessions() as s:
            n = await outbox.emit_upcoming(s, at, lead)
            await s.commit()
        return n

    assert await emit(now) == 2
    assert await emit(now) == 0
    got = {e.payload["meeting_id"]: e.payload for e in await events(sessions)}
    assert got[soon.id]["agenda_empty"] is False
    assert got[later.id]["agenda_empty"] is True  # private points are nobody else's business
    assert got[soon.id]["start"] == outbox.timestamp(soon.start)
    async with sessions() as s:  # moved: announced again, for its new start
        row = await s.get(Meeting, later.id)
        row.start, row.end = row.start + timedelta(hours=1), row.end + timedelta(hours=1)
        await s.commit()
    assert await emit(now + timedelta(minutes=1)) == 1
    deny = await deny_list(sessions)
    for e in await events(sessions):
        assert e.type == "meeting.upcoming"
        assert_ids_types_and_times_only(e.payload, deny)
        assert_published(e)
