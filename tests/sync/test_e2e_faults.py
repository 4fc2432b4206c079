"""End to end through the fakes, with faults: every test replays one scenario (every
timeline op on both providers, a mixed Google+Outlook pair, a Europe/Berlin weekly
across the 2026-03-29 DST change, a "this and following" split on each provider;
see e2e_helpers.all_ops_scenario) through the production pipeline (fake providers
over HTTP → webhooks → leased worker → DB → detector) with one family of faults
injected, and requires the final state of the fault-free run: the same
oneonone-replay/1 document, the same calendar_events, the same revision history
(change time and snapshot of every revision, in order: nothing applied twice,
nothing lost), the same meetings, findings and pair cadence, and every calendar
left clean (synced, no sync requested, not leased, not backing off, one live channel).

Waiting is injected: the adapters get a recording `sleep` (Retry-After and the
backoff schedules are asserted, never slept) and no jitter; the worker's own
backoff is served by moving the injected clock past `backoff_until`, as
production's worker retries later (`Replay.retry_later` also checks that nothing
is synced a second before the backoff ends). Faults are aimed with the knobs'
`path_prefix` at the request every sync starts with (Google events.list, Graph
calendarView/delta) of one calendar, at entries whose increments carry no Graph
removal (Graph gives no deletion time: a removal is dated when it is seen, so a
backoff would rightly move it)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from service.db.models import AgendaItem, Meeting, Person, PushChannel, SharedNote
from service.domain import agenda, notes
from service.domain.access import Principal
from service.sandbox.oauth import TokenRejected
from service.sandbox.oauth_entra import object_id
from tests.conftest import BACKENDS
from tests.sync.e2e_helpers import (
    A2,
    A_EXTRA,
    BEN,
    C2_UID,
    KIM,
    LI,
    MAYA,
    OLA,
    X_OLA,
    A,
    B,
    Replay,
    State,
    all_ops_scenario,
    assert_same_state,
    at,
    index_of,
    replay,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

SCENARIO = all_ops_scenario()
_baselines: dict[str, State] = {}


async def fault_free(backend: str) -> State:
    """The scenario replayed without faults, once per backend."""
    if backend not in _baselines:
        state, run = await replay(SCENARIO, backend)
        assert run.sleep.calls == [] and run.backoffs == []
        _baselines[backend] = state
    return _baselines[backend]


def entry(when: str, op: str, calendar: str) -> int:
    return index_of(SCENARIO, when, op, calendar)


def events_list(email: str) -> str:
    """Where Google's events.list (and only the calendar's event routes) of `email` is served."""
    return f"/calendar/v3/calendars/{email}/events"


def delta(email: str) -> str:
    """Where Graph's calendarView delta of `email` is served: the mailbox named by its object id."""
    return f"/v1.0/users/{object_id(email)}/calendarView/delta"


# -- 1. the scenario: every op on both providers lands where the SPEC says -----------------------------
def _m(manager: str, report: str, original: str, start: str, status: str) -> tuple[str, ...]:
    return (manager, report, original, start, status)


EXPECTED_MEETINGS = [
    # maya–ben, Google: Mon 10:00 Berlin = 09:00Z, 08:00Z after 03-29; split on 04-08 into 11:00 (09:00Z).
    _m(MAYA, BEN, "2026-03-02T09:00:00Z", "2026-03-02T09:00:00Z", "held"),
    _m(MAYA, BEN, "2026-03-09T09:00:00Z", "2026-03-09T09:00:00Z", "held"),
    _m(MAYA, BEN, "2026-03-16T09:00:00Z", "2026-03-16T09:00:00Z", "cancelled"),
    _m(MAYA, BEN, "2026-03-23T09:00:00Z", "2026-03-23T14:00:00Z", "held"),  # moved 2 h ahead
    _m(MAYA, BEN, "2026-03-27T13:00:00Z", "2026-03-27T15:00:00Z", "cancelled"),  # single: updated, deleted
    _m(MAYA, BEN, "2026-03-30T08:00:00Z", "2026-03-30T08:00:00Z", "held"),  # after the DST change
    _m(MAYA, BEN, "2026-04-06T08:00:00Z", "2026-04-06T08:00:00Z", "declined"),
    _m(MAYA, BEN, "2026-04-13T09:00:00Z", "2026-04-13T09:00:00Z", "held"),  # the new series
    _m(MAYA, BEN, "2026-04-20T09:00:00Z", "2026-04-20T09:00:00Z", "held"),
    _m(MAYA, BEN, "2026-04-27T09:00:00Z", "2026-04-27T09:00:00Z", "scheduled"),
    _m(MAYA, BEN, "2026-05-04T09:00:00Z", "2026-05-04T09:00:00Z", "scheduled"),
    # maya–li: a Google copy and an Outlook copy of one meeting; Wed 14:00, re-timed to 15:00 on 03-20.
    _m(MAYA, LI, "2026-03-04T13:00:00Z", "2026-03-04T13:00:00Z", "held"),
    _m(MAYA, LI, "2026-03-11T13:00:00Z", "2026-03-11T13:00:00Z", "held"),
    _m(MAYA, LI, "2026-03-18T13:00:00Z", "2026-03-18T13:00:00Z", "held"),
    _m(MAYA, LI, "2026-03-25T14:00:00Z", "2026-03-25T14:00:00Z", "held"),
    _m(MAYA, LI, "2026-04-01T13:00:00Z", "2026-04-01T13:00:00Z", "held"),
    _m(MAYA, LI, "2026-04-08T13:00:00Z", "2026-04-08T13:00:00Z", "held"),
    _m(MAYA, LI, "2026-04-15T13:00:00Z", "2026-04-15T13:00:00Z", "held"),
    _m(MAYA, LI, "2026-04-22T13:00:00Z", "2026-04-22T13:00:00Z", "cancelled"),
    _m(MAYA, LI, "2026-04-29T13:00:00Z", "2026-04-29T13:00:00Z", "scheduled"),
    # ola–kim, Outlook only (a copy per mailbox): Thu 09:00, split on 04-09 into 10:00.
    _m(OLA, KIM, "2026-03-05T08:00:00Z", "2026-03-05T08:00:00Z", "held"),
    _m(OLA, KIM, "2026-03-12T08:00:00Z", "2026-03-12T08:00:00Z", "cancelled"),
    _m(OLA, KIM, "2026-03-13T08:00:00Z", "2026-03-13T08:00:00Z", "held"),  # the reschedule
    _m(OLA, KIM, "2026-03-19T08:00:00Z", "2026-03-19T08:00:00Z", "held"),
    _m(OLA, KIM, "2026-03-26T08:00:00Z", "2026-03-26T09:00:00Z", "held"),  # moved 6 days ahead
    _m(OLA, KIM, "2026-04-02T07:00:00Z", "2026-04-02T07:00:00Z", "declined"),
    _m(OLA, KIM, "2026-04-09T07:00:00Z", "2026-04-09T07:00:00Z", "held"),
    _m(OLA, KIM, "2026-04-14T08:00:00Z", "2026-04-14T09:00:00Z", "cancelled"),  # single: updated, deleted
    _m(OLA, KIM, "2026-04-16T08:00:00Z", "2026-04-16T08:00:00Z", "held"),
    _m(OLA, KIM, "2026-04-23T08:00:00Z", "2026-04-23T08:00:00Z", "scheduled"),
    _m(OLA, KIM, "2026-04-30T08:00:00Z", "2026-04-30T08:00:00Z", "scheduled"),
]
EXPECTED_FINDINGS = sorted(
    [
        ("cadence_gap", MAYA, BEN, "2026-03-09T09:00:00Z"),
        ("cancelled_without_reschedule", MAYA, BEN, "2026-03-16T09:00:00Z"),
        ("late_reschedule", MAYA, BEN, "2026-03-23T09:00:00Z"),
        ("cadence_gap", MAYA, BEN, "2026-03-30T08:00:00Z"),
        ("declined", MAYA, BEN, "2026-04-06T08:00:00Z"),
        ("cancelled_without_reschedule", MAYA, LI, "2026-04-22T13:00:00Z"),
        ("cadence_gap", OLA, KIM, "2026-03-26T09:00:00Z"),
        ("declined", OLA, KIM, "2026-04-02T07:00:00Z"),
    ]
)


async def test_every_operation_on_both_providers_lands_as_the_spec_says(backend):
    """The fault-free run the other tests compare with is itself right: every op
    (create, update incl. series edits, delete, cancel_occurrence, move_occurrence,
    respond) on each provider, the mixed pair seen once across two providers, the
    DST shift, and both "this and following" splits."""
    state = await fault_free(backend)
    document = state.document
    assert [
        (x["manager"], x["report"], x["original_start"], x["start"], x["status"]) for x in document["meetings"]
    ] == EXPECTED_MEETINGS
    assert (
        sorted(
            (f["type"], f["manager"], f["report"], f.get("occurrence_start") or f.get("since"))
            for f in document["findings"]
        )
        == EXPECTED_FINDINGS
    )
    assert {
        (f["type"], f["occurrence_start"]): f["notice_hours"] for f in document["findings"] if "notice_hours" in f
    } == {
        ("cancelled_without_reschedule", "2026-03-16T09:00:00Z"): 90.0,
        ("late_reschedule", "2026-03-23T09:00:00Z"): 2.0,
        ("cancelled_without_reschedule", "2026-04-22T13:00:00Z"): 172.0,
    }
    assert [
        (p["manager"], p["report"], p["cadence"], p["interval_days"], p["next_scheduled"]) for p in document["pairs"]
    ] == [
        (MAYA, BEN, "weekly", 7, "2026-04-27T09:00:00Z"),
        (MAYA, LI, "weekly", 7, "2026-04-29T13:00:00Z"),
        (OLA, KIM, "weekly", 7, "2026-04-23T08:00:00Z"),
    ]
    events = state.rows["calendar_events"]
    for cal in (MAYA, BEN):  # Google: one op, both calendars of the domain hold the copy
        assert events[f"{cal} {A}_20260316T090000Z"]["status"] == "cancelled"  # the stub exception
        assert events[f"{cal} {A_EXTRA}"]["status"] == "cancelled"  # deleted, still listed
        assert any("UNTIL=20260412T215959Z" in r for r in events[f"{cal} {A}"]["recurrence"])
        assert events[f"{cal} {A2}"]["kind"] == "series"
    assert events[f"{MAYA} {B}"]["ical_uid"] == events[f"{LI} AAMkAGli0B0master0AAA="]["ical_uid"]
    # Graph: a deleted event and a cancelled occurrence are removed, not cancelled.
    assert events[f"{OLA} {X_OLA}"]["removed_at"] is not None
    assert [
        v["removed_at"] is not None
        for v in events.values()
        if v["series_id"] and v["original_start"] == "2026-03-12T08:00:00+00:00"
    ] == [True, True]
    assert all(h["failures"] == 0 and not h["requested"] for h in state.health.values())


# -- 2. sync tokens expiring mid-history ------------------------------------------------------------------
async def _principal(run: Replay, email: str) -> Principal:
    async with run.h.sessions() as session:
        person_id = await session.scalar(select(Person.id).where(Person.email == email))
    return Principal(person_id=person_id, email=email, role="member")


async def _meeting_id(run: Replay, source_uid: str, original_start: str) -> int:
    async with run.h.sessions() as session:
        meeting_id = await session.scalar(
            select(Meeting.id).where(Meeting.source_uid == source_uid, Meeting.original_start == at(original_start))
        )
    assert meeting_id is not None, f"no sync-created meeting {source_uid} {original_start}"
    return meeting_id


async def test_expired_sync_tokens_resync_in_full_to_the_same_state_and_keep_agendas(backend):
    """`invalidate_sync_tokens` between entries: the next increment gets 410 (Google
    fullSyncRequired; Graph resyncRequired, then syncStateNotFound), the worker
    drops its cursor and takes a full sync, and the run ends exactly as the
    fault-free one, though the Google series split and the Graph deletion reached
    the service only through full listings. Agenda items and shared notes written
    on sync-created meetings before the 410 are still on the same meeting rows."""
    want = await fault_free(backend)
    attached: dict[str, int] = {}

    async def talking_point(run: Replay, who: str, uid: str, original: str, body: str) -> None:
        principal, meeting_id = await _principal(run, who), await _meeting_id(run, uid, original)
        async with run.h.sessions() as session:
            await agenda.add_item(
                session, principal, meeting_id, body=body, private=False, minutes=5, now=run.h.clock.now()
            )
            await notes.put_shared_note(session, meeting_id, principal, f"notes: {body}", run.h.clock.now())
            await session.commit()
        attached[body] = meeting_id

    windows: dict[str, object] = {}  # each calendar's window before its 410

    def expire(*emails: str, code: str = "syncStateNotFound"):
        """Once the entry's channel upkeep is done (a lapsed Graph subscription or a
        drifted delta window re-baselines by itself): note the window, expire the
        calendars' tokens."""

        async def knob(run: Replay, i: int) -> None:
            await run.catch_up(i)
            calendars = await run.calendars()
            for email in emails:
                assert calendars[email].cursor, f"{email} has no cursor to expire"
                windows[email] = calendars[email].window_start
                run.sandbox.invalidate_sync_tokens(email)
            run.faults.graph_gone_code = code

        return knob

    async def before_google_split(run: Replay, i: int) -> None:
        await talking_point(run, LI, f"{B}@google.com", "2026-04-15T13:00:00Z", "career plan")
        await expire(MAYA, BEN)(run, i)

    async def before_graph_delete(run: Replay, i: int) -> None:
        await talking_point(run, KIM, C2_UID, "2026-04-23T08:00:00Z", "feedback on Q2")
        await expire(OLA)(run, i)

    def resynced_in_full(*emails: str):
        async def check(run: Replay) -> None:
            calendars = await run.calendars()
            window_start = run.h.clock.now() - timedelta(days=run.h.settings.sync.lookback_days)
            for email in emails:  # the full sync forced by the 410 re-based the window, at this entry
                assert windows[email] != window_start, f"{email} had just re-baselined: no 410 to meet"
                assert calendars[email].window_start == window_start, f"{email}: no full resync"
                assert calendars[email].last_synced_at == run.h.clock.now()

        return check

    found: dict[str, tuple] = {}

    async def look_at_content(run: Replay) -> None:
        async with run.h.sessions() as session:
            for body, meeting_id in attached.items():
                item = await session.scalar(
                    select(AgendaItem).where(AgendaItem.body == body, AgendaItem.carried_from_id.is_(None))
                )
                meeting = await session.get(Meeting, meeting_id)
                note = await session.get(SharedNote, meeting_id)
                found[body] = (item.meeting_id, meeting.source_uid, meeting.original_start, note.body)

    kim_create = entry("2026-04-09T12:05:00Z", "create", KIM)  # the new series after the Graph split
    split = entry("2026-04-08T10:00:00Z", "update", MAYA)
    ola_delete = entry("2026-04-10T08:00:00Z", "delete", OLA)
    hooks = {
        split: before_google_split,
        kim_create: expire(KIM, code="resyncRequired"),
        ola_delete: before_graph_delete,
    }
    got, run = await replay(
        SCENARIO,
        backend,
        before={i: (lambda r, i=i, hook=hook: hook(r, i)) for i, hook in hooks.items()},
        after={
            split: resynced_in_full(MAYA, BEN),
            kim_create: resynced_in_full(KIM),
            ola_delete: resynced_in_full(OLA),
        },
        at_end=look_at_content,
    )
    assert run.backoffs == [] and run.sleep.calls == []
    assert_same_state(got, want)
    assert found == {
        "career plan": (attached["career plan"], f"{B}@google.com", at("2026-04-15T13:00:00Z"), "notes: career plan"),
        "feedback on Q2": (attached["feedback on Q2"], C2_UID, at("2026-04-23T08:00:00Z"), "notes: feedback on Q2"),
    }


# -- 3. request faults ------------------------------------------------------------------------------------
def aimed(knob):
    """A before-hook setting faults once the entry's channel maintenance is done."""

    async def hook(run: Replay, i: int) -> None:
        await run.catch_up(i)
        knob(run)

    return hook


class TokenSpy:
    """Counts the fakes' 401s (instrumentation of the fake's token check, not of the service)."""

    def __init__(self) -> None:
        self.rejected: Counter = Counter()

    def install(self, run: Replay) -> None:
        issuer = run.sandbox.issuer
        check = issuer.check

        def counting(audience, authorization):
            try:
                return check(audience, authorization)
            except TokenRejected as exc:
                self.rejected[(audience, exc.why)] += 1
                raise

        issuer.check = counting

    def expire(self, run: Replay) -> None:
        self.rejected.clear()
        assert run.sandbox.expire_access_tokens() > 0


async def test_transient_request_faults_are_absorbed_inside_the_sync(backend):
    """Each fault the fakes can put on a request, met by the sync of one change and
    absorbed there, so the worker never backs off and the run ends exactly as the
    fault-free one:
    - 429 with Retry-After, both providers: waited exactly as told;
    - Google 403 rateLimitExceeded / userRateLimitExceeded: 1 s, 2 s… exponential;
    - 500, 503, 504: Google's 1, 2, 4 s; Graph's Retry-After: 1 on 503 and its own
      equal-jitter backoff (0.5, 1 s at the floor) otherwise;
    - a slow answer within the client timeout: nothing to do; one past it (1 s on
      both adapters here): a transport error, retried;
    - expired access tokens (`expire_access_tokens` minutes after the last sync, so
      the adapters hold tokens they believe fresh): 401, the Google client refreshes
      its delegated credentials, the Graph adapter asks Entra again, and retries."""
    want = await fault_free(backend)
    tokens = TokenSpy()

    def expect(sleeps: list[float], *, google_401: int = 0, graph_401: int = 0):
        async def check(run: Replay) -> None:
            assert run.sleep.take() == sleeps
            assert run.faults.pending_rules() == 0, "the fault was never met"
            assert await run.backing_off() == []
            assert tokens.rejected[("google", "expired")] >= google_401, tokens.rejected
            assert tokens.rejected[("graph", "expired")] >= graph_401, tokens.rejected

        return check

    plan: dict[int, tuple] = {
        entry("2026-03-03T09:00:00Z", "respond", MAYA): (
            lambda r: r.faults.throttle(1, retry_after=2, path_prefix=events_list(MAYA)),
            expect([2.0]),
        ),
        entry("2026-03-03T09:00:00Z", "respond", LI): (
            lambda r: r.faults.throttle(1, retry_after=3, path_prefix=delta(LI)),
            expect([3.0]),
        ),
        entry("2026-03-10T10:00:00Z", "cancel_occurrence", OLA): (
            lambda r: r.faults.fail_next(1, 503, path_prefix=delta(OLA)),
            expect([1.0]),
        ),
        entry("2026-03-10T10:05:00Z", "create", OLA):  # 5 min after ola's last sync
        (tokens.expire, expect([], graph_401=1)),
        entry("2026-03-12T15:00:00Z", "cancel_occurrence", MAYA): (
            lambda r: (
                r.faults.rate_limit(2, path_prefix=events_list(MAYA)),
                r.faults.rate_limit(1, reason="userRateLimitExceeded", path_prefix=events_list(BEN)),
            ),
            expect([1.0, 2.0, 1.0]),
        ),
        entry("2026-03-20T12:00:00Z", "update", MAYA): (
            lambda r: (
                r.faults.fail_next(1, 500, path_prefix=events_list(MAYA)),
                r.faults.fail_next(1, 503, path_prefix=events_list(MAYA)),
            ),
            expect([1.0, 2.0]),
        ),
        entry("2026-03-20T13:00:00Z", "move_occurrence", KIM): (
            lambda r: (
                r.faults.fail_next(1, 500, path_prefix=delta(KIM)),
                r.faults.fail_next(1, 504, path_prefix=delta(KIM)),
            ),
            expect([0.5, 1.0]),
        ),
        entry("2026-03-22T18:00:00Z", "create", MAYA): (
            lambda r: r.faults.delay(0.3, path_prefix=events_list(MAYA)),
            expect([]),
        ),
        entry("2026-03-24T09:00:00Z", "update", BEN): (
            lambda r: r.faults.delay(1.5, path_prefix=events_list(BEN)),
            expect([1.0]),
        ),
        entry("2026-04-01T09:00:00Z", "respond", OLA): (
            lambda r: r.faults.delay(1.5, path_prefix=delta(OLA)),
            expect([0.5]),
        ),
        entry("2026-04-08T10:00:00Z", "create", MAYA):  # right after the split, on both calendars
        (tokens.expire, expect([], google_401=2)),
    }
    assert 0 not in plan
    before = {0: tokens.install, **{i: (lambda r, i=i, knob=knob: aimed(knob)(r, i)) for i, (knob, _) in plan.items()}}
    async with httpx.AsyncClient(timeout=httpx.Timeout(1.0)) as graph_client:
        got, run = await replay(
            SCENARIO,
            backend,
            google_timeout=1.0,
            graph_client=graph_client,
            before=before,
            after={i: check for i, (_, check) in plan.items()},
        )
    assert run.backoffs == []
    assert_same_state(got, want)


async def test_failures_past_the_retries_back_off_then_recover(backend):
    """When the in-call retries are spent (or the provider asks for longer than a
    sync may wait) the calendar goes into backoff on the worker: exactly the
    Retry-After (120 s Google 429, 90 s Graph 429), jittered exponential otherwise
    (30–60 s, then 60–120 s on a second failure), Graph's last computed wait for its
    5xx. Nothing syncs the calendar before its backoff ends (checked a second
    early); then it syncs, and the run ends as the fault-free one."""
    want = await fault_free(backend)

    def backing_off(expected: dict[str, tuple[float, float]], sleeps: list[float]):
        async def check(run: Replay) -> None:
            got = {b.email: b for b in await run.backing_off()}
            assert set(got) == set(expected), got
            for email, (low, high) in expected.items():
                assert low <= got[email].seconds <= high and got[email].failures == 1, got[email]
            assert run.sleep.take() == sleeps

        return check

    g_cancel = entry("2026-03-12T15:00:00Z", "cancel_occurrence", MAYA)
    kim_move = entry("2026-03-20T13:00:00Z", "move_occurrence", KIM)
    g_delete = entry("2026-03-25T09:00:00Z", "delete", MAYA)
    ola_respond = entry("2026-04-01T09:00:00Z", "respond", OLA)
    knobs = {
        g_cancel: lambda r: (
            r.faults.throttle(1, retry_after=120, path_prefix=events_list(MAYA)),  # > 60 s cap
            r.faults.rate_limit(4, path_prefix=events_list(BEN)),
        ),  # every in-call try
        kim_move: lambda r: r.faults.throttle(1, retry_after=90, path_prefix=delta(KIM)),  # > Graph's 30 s cap
        g_delete: lambda r: r.faults.fail_next(8, 503, path_prefix=events_list(MAYA)),  # two whole syncs fail
        ola_respond: lambda r: r.faults.fail_next(4, 500, path_prefix=delta(OLA)),
    }

    def second_failure(run: Replay) -> None:  # retried once the backoff ended, failed in full again
        assert run.sleep.take() == [1.0, 2.0, 4.0]

    got, run = await replay(
        SCENARIO,
        backend,
        before={
            **{i: (lambda r, i=i, knob=knob: aimed(knob)(r, i)) for i, knob in knobs.items()},
            g_delete + 1: second_failure,
        },
        after={
            g_cancel: backing_off({MAYA: (120, 120), BEN: (30, 60)}, [1.0, 2.0, 4.0]),
            kim_move: backing_off({KIM: (90, 90)}, []),
            g_delete: backing_off({MAYA: (30, 60)}, [1.0, 2.0, 4.0]),
            ola_respond: backing_off({OLA: (4, 4)}, [0.5, 1.0, 2.0]),
        },
    )
    second = [b for b in run.backoffs if b.email == MAYA and b.failures == 2]
    assert len(second) == 1 and 60 <= second[0].seconds <= 120, run.backoffs
    assert "503" in second[0].error
    assert run.sleep.calls == [] and run.faults.pending_rules() == 0
    assert_same_state(got, want)


# -- 4. notification faults --------------------------------------------------------------------------------
def _changes(run: Replay) -> list:
    """The change notifications delivered (not Google's `sync` handshakes)."""
    return [
        r
        for r in run.sandbox.notifier.results
        if r.delivery.kind in ("google", "graph") and r.delivery.meta.get("state") != "sync"
    ]


async def test_duplicated_shuffled_and_late_notifications_change_nothing(backend):
    """The notification knobs together, each with its evidence:
    - duplicates: every change notification is delivered twice and both are
      acknowledged; the second only requests one more sync, which coalesces;
    - out of order (seeded shuffle): the calendars of a shared Google event hear of
      it in another order than the change was made in;
    - after stop: Google keeps notifying channels the service replaced and stopped
      (rotated at half their lifetime during the run), Graph a subscription it was
      told was removed (lifecycle `subscriptionRemoved`, after which the service
      opens a new one); those are answered 2xx and ignored.
    Nothing is synced or applied twice or missed: same final state."""
    want = await fault_free(backend)
    shuffled: list[tuple[int, list]] = []
    stopped: dict[str, set[str]] = {}
    marks = {"n": 0}

    def knobs(run: Replay) -> None:
        run.faults.duplicate_notifications = True
        run.faults.reorder_notifications(seed=3)
        run.faults.deliver_after_stop = True

    def mark(run: Replay) -> None:
        marks["n"] = len(run.sandbox.notifier.results)

    def order(i: int):
        def check(run: Replay) -> None:
            heard = [
                r.delivery.meta["calendar"]
                for r in run.sandbox.notifier.results[marks["n"] :]
                if r.delivery.kind == "google" and r.delivery.meta.get("state") == "exists"
            ]
            if heard and heard[0] != SCENARIO["timeline"][i]["calendars"][0]:
                shuffled.append((i, heard))

        return check

    async def remove_kims_subscription(run: Replay) -> None:
        kim_calendar = (await run.calendars())[KIM].id
        async with run.h.sessions() as session:
            sub = await session.scalar(
                select(PushChannel.channel_id).where(
                    PushChannel.calendar_id == kim_calendar, PushChannel.stopped_at.is_(None)
                )
            )
        assert run.sandbox.graph.fire_lifecycle(sub, "subscriptionRemoved")
        assert {r.status for r in await run.sandbox.flush()} == {202}

    async def collect_stopped(run: Replay) -> None:
        async with run.h.sessions() as session:
            rows = (
                await session.execute(
                    select(PushChannel.provider, PushChannel.channel_id).where(PushChannel.stopped_at.is_not(None))
                )
            ).all()
        for provider, channel_id in rows:
            stopped.setdefault("graph" if provider == "microsoft" else provider, set()).add(channel_id)

    shared = [i for i, e in enumerate(SCENARIO["timeline"]) if e["provider"] == "google" and len(e["calendars"]) > 1]
    removal = entry("2026-04-01T09:00:00Z", "respond", KIM)
    got, run = await replay(
        SCENARIO,
        backend,
        before={0: knobs, **{i: mark for i in shared if i}, removal: remove_kims_subscription},
        after={i: order(i) for i in shared},
        at_end=collect_stopped,
    )
    changes = _changes(run)
    assert all(r.ok for r in changes)
    copies = Counter((r.delivery.channel, tuple(sorted(r.delivery.headers.items())), r.delivery.body) for r in changes)
    assert copies and set(copies.values()) == {2}, "every notification delivered twice"
    assert len(shuffled) >= 2, shuffled
    late = Counter(r.delivery.kind for r in changes if r.delivery.channel in stopped.get(r.delivery.kind, set()))
    assert late["google"] >= 2 and late["graph"] >= 1, late
    assert_same_state(got, want)
