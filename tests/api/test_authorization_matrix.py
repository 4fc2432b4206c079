"""Who gets what, for every `/v1` endpoint: one table, one test per (case, caller).

Callers (`factory.org()`): the pair's `report` and `manager`, the manager's manager
(`boss`), an unrelated `member`, `hr` and `admin`. The rules (`service.domain.access`):

- a pair is visible to its participants and admins, never to the boss, HR or others;
- meeting content (detail, agenda, notes, action items, feedback) is for participants
  only, admins included out; private agenda items and notes are for their author only;
- HR sees aggregates only (org insights);
- hidden means 404, exactly like missing; 403 only when the caller can see the thing
  but may not do this to it (an admin rescheduling a meeting, a non-admin importing).

Every cell asserts the exact status. Every 2xx body is searched for the content the
caller must never see (the other participant's private items, notes and feedback;
all content for non-participants). Every refused request must write nothing, and
every 404 must be indistinguishable from the 404 for an id that does not exist.
`test_every_v1_route_is_in_the_matrix` fails when an endpoint is added without a row."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from service.db.models import (
    ActionItem,
    AgendaItem,
    ApiToken,
    Base,
    Calendar,
    CalendarConnection,
    Feedback,
    Finding,
    Meeting,
    OutboxEvent,
    PrivateNote,
    SharedNote,
    Template,
    WebhookEndpoint,
)
from service.domain import outbox
from service.security.crypto import generate_key
from service.settings import GoogleSettings, Settings
from tests.api.routes import v1_operations
from tests.conftest import T0

PROBLEM = "application/problem+json"
ROLES = ("report", "manager", "boss", "member", "hr", "admin")
PARTICIPANTS = ("report", "manager")
MEETING_START = T0 + timedelta(days=1)
NOW = MEETING_START + timedelta(hours=1)  # the API runs after the meeting: feedback is open
MISSING_ID = 2**62  # a valid id that names nothing

# Text planted in the world; who must never read which (in any successful response).
MANAGER_SECRETS = ("PRIVATE-AGENDA-OF-MANAGER", "PRIVATE-NOTE-OF-MANAGER", "FEEDBACK-OF-MANAGER")
REPORT_SECRETS = ("PRIVATE-AGENDA-OF-REPORT", "PRIVATE-NOTE-OF-REPORT", "FEEDBACK-OF-REPORT")
SHARED_CONTENT = ("SHARED-AGENDA-ITEM", "SHARED-NOTE-TEXT", "ACTION-ITEM-TEXT")
NEVER_SEEN_BY = {
    "report": MANAGER_SECRETS,
    "manager": REPORT_SECRETS,
    **dict.fromkeys(("boss", "member", "hr", "admin"), MANAGER_SECRETS + REPORT_SECRETS + SHARED_CONTENT),
}


def statuses(ok: int, *, allowed: tuple[str, ...] = PARTICIPANTS, others: int = 404, **override: int) -> dict[str, int]:
    """`ok` for the `allowed` roles, `others` for the rest, then per-role overrides."""
    table = {role: ok if role in allowed else others for role in ROLES}
    table.update(override)
    return table


EVERYONE = ROLES
SEES_PAIR = ("report", "manager", "admin")


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # the path template exactly as the app declares it
    expect: dict[str, int]
    target: Callable[[Any], dict[str, int]] = lambda w: {}  # path parameters
    body: Callable[[Any], Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    check: Callable[[Any, str, dict], None] | None = None  # extra assertions on a 2xx body
    variant: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}" + (f" [{self.variant}]" if self.variant else "")


# --- checks on successful bodies --------------------------------------------------------------------------


def _me(w, role, body):
    assert body["id"] == getattr(w.o, role).id


def _own_tokens(w, role, body):
    token = w.o.h[role]["Authorization"].removeprefix("Bearer ")
    assert [t["prefix"] for t in body] == [token[:10]]


def _pairs(w, role, body):
    o = w.o
    expected = {
        "report": {o.pair.id},
        "manager": {o.boss_pair.id, o.pair.id},
        "boss": {o.boss_pair.id},  # their own pair with the manager, not the manager's pairs
        "member": set(),
        "hr": set(),
        "admin": {o.boss_pair.id, o.pair.id, o.other_pair.id},
    }
    assert {p["id"] for p in body["items"]} == expected[role]


def _meeting_ids(w, role, body):
    assert [m["id"] for m in body["items"]] == [w.meeting.id]


def _my_meetings(w, role, body):
    """Each participant sees their own meetings only, counted as they see them; others none
    (an admin included: content is per participant)."""
    if role not in PARTICIPANTS:
        assert body["items"] == []
        return
    (item,) = body["items"]
    other = w.o.manager if role == "report" else w.o.report
    assert (item["id"], item["role"], item["other"]["id"]) == (w.meeting.id, role, other.id)
    assert (item["agenda_items"], item["agenda_empty"]) == (2, False)  # shared + own private, never the other's
    assert (item["open_action_items"], item["rated_by_me"]) == (1, True)


def _my_action_items(w, role, body):
    expected = [w.action.id] if role in PARTICIPANTS else []
    assert [a["id"] for a in body["items"]] == expected
    assert all(a["owner"]["id"] == w.o.report.id for a in body["items"])


def _pairs_embedded(w, role, body):
    _pairs(w, role, body)
    for p in body["items"]:
        assert (p["manager"]["id"], p["report"]["id"]) == (p["manager_id"], p["report_id"])
        assert p["open_findings"] == ({"cadence_gap": 1} if p["id"] == w.o.pair.id else {})


def _own_agenda(w, role):
    own = w.rep_private if role == "report" else w.mgr_private
    return {w.shared_item.id, own.id}


def _detail(w, role, body):
    assert {a["id"] for a in body["agenda"]} == _own_agenda(w, role)
    assert [a["position"] for a in body["agenda"]] == [0, 1]  # no gap where the hidden item sits
    assert body["private_note"]["author_id"] == getattr(w.o, role).id
    assert body["shared_note"]["body"] == "SHARED-NOTE-TEXT"
    assert [a["id"] for a in body["open_action_items"]] == [w.action.id]


def _agenda(w, role, body):
    assert {a["id"] for a in body["items"]} == _own_agenda(w, role)


def _private_note(w, role, body):
    assert body["author_id"] == getattr(w.o, role).id
    assert body["body"] == ("PRIVATE-NOTE-OF-REPORT" if role == "report" else "PRIVATE-NOTE-OF-MANAGER")


def _written_by_caller(key):
    def check(w, role, body):
        assert body[key] == getattr(w.o, role).id

    return check


def _own_feedback(w, role, body):
    assert body["person_id"] == getattr(w.o, role).id
    assert body["comment"] == ("FEEDBACK-OF-REPORT" if role == "report" else "FEEDBACK-OF-MANAGER")


def _findings(w, role, body):
    assert ({f["id"] for f in body["items"]} == {w.finding.id}) == (role in SEES_PAIR)
    if role not in SEES_PAIR:
        assert body["items"] == []


def _team(w, role, body):
    assert body["pair_count"] == 1
    # Above the manager: the team's aggregates, never its pairs.
    assert [p["pair_id"] for p in body["pairs"]] == ([w.o.pair.id] if role in ("manager", "admin") else [])


def _calendars(w, role, body):
    assert [c["id"] for c in body["items"]] == ([w.calendar.id] if role in ("report", "admin") else [])


def _slot(days: int) -> dict[str, str]:
    start = T0 + timedelta(days=days)
    return {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}


MEETING = lambda w: {"meeting_id": w.meeting.id}  # noqa: E731
ENDPOINT = lambda w: {"endpoint_id": w.endpoint.id}  # noqa: E731
ADMINS_ONLY = lambda ok: statuses(ok, allowed=("admin",), others=403)  # noqa: E731
PAIR = lambda w: {"pair_id": w.o.pair.id}  # noqa: E731

CASES = [
    # people and the caller: the directory is for every authenticated person
    Case("GET", "/v1/me", statuses(200, allowed=EVERYONE), check=_me),
    Case("GET", "/v1/me/tokens", statuses(200, allowed=EVERYONE), check=_own_tokens),
    Case(
        "DELETE",
        "/v1/me/tokens/{token_id}",
        statuses(204, allowed=("report",)),
        lambda w: {"token_id": w.report_token_id},
    ),
    Case("GET", "/v1/people", statuses(200, allowed=EVERYONE)),
    Case("GET", "/v1/people/{person_id}", statuses(200, allowed=EVERYONE), lambda w: {"person_id": w.o.report.id}),
    Case(
        "POST",
        "/v1/people:import",
        statuses(200, allowed=("admin",), others=403),
        body=lambda w: {"people": [{"email": "new@acme.test", "name": "New", "manager": w.o.manager.email}]},
    ),
    # pairs: participants and admins
    Case("GET", "/v1/pairs", statuses(200, allowed=EVERYONE), check=_pairs_embedded),
    Case("GET", "/v1/pairs/{pair_id}", statuses(200, allowed=SEES_PAIR), PAIR),
    Case("PATCH", "/v1/pairs/{pair_id}", statuses(200, allowed=SEES_PAIR), PAIR, body=lambda w: {"cadence_days": 14}),
    # the schedule: admins see it, only participants change it (an admin gets 403)
    Case("GET", "/v1/pairs/{pair_id}/meetings", statuses(200, allowed=SEES_PAIR), PAIR, check=_meeting_ids),
    Case("POST", "/v1/pairs/{pair_id}/meetings", statuses(201, admin=403), PAIR, body=lambda w: _slot(5)),
    Case("PATCH", "/v1/meetings/{meeting_id}", statuses(200, admin=403), MEETING, body=lambda w: {"title": "Renamed"}),
    Case("POST", "/v1/meetings/{meeting_id}:cancel", statuses(200, admin=403), MEETING),
    # content: participants only, admins included out
    Case("GET", "/v1/meetings", statuses(200, allowed=EVERYONE), check=_my_meetings),
    Case("GET", "/v1/meetings/{meeting_id}", statuses(200), MEETING, check=_detail),
    Case("GET", "/v1/meetings/{meeting_id}/agenda", statuses(200), MEETING, check=_agenda),
    Case(
        "POST",
        "/v1/meetings/{meeting_id}/agenda",
        statuses(201),
        MEETING,
        body=lambda w: {"body": "one more point", "private": True},
        check=_written_by_caller("author_id"),
    ),
    Case(
        "PATCH",
        "/v1/agenda-items/{item_id}",
        statuses(200),
        lambda w: {"item_id": w.shared_item.id},
        body=lambda w: {"done": True},
    ),
    Case(
        "PATCH",
        "/v1/agenda-items/{item_id}",
        statuses(200, report=403),
        lambda w: {"item_id": w.shared_item.id},
        body=lambda w: {"body": "reworded"},
        variant="author-only field",
    ),
    Case(
        "PATCH",
        "/v1/agenda-items/{item_id}",
        statuses(200, report=404),
        lambda w: {"item_id": w.mgr_private.id},
        body=lambda w: {"done": True},
        variant="manager's private item",
    ),
    Case(
        "PATCH",
        "/v1/agenda-items/{item_id}",
        statuses(200, manager=404),
        lambda w: {"item_id": w.rep_private.id},
        body=lambda w: {"position": 0},
        variant="report's private item",
    ),
    Case("DELETE", "/v1/agenda-items/{item_id}", statuses(204, report=403), lambda w: {"item_id": w.shared_item.id}),
    Case(
        "DELETE",
        "/v1/agenda-items/{item_id}",
        statuses(204, manager=404),
        lambda w: {"item_id": w.rep_private.id},
        variant="report's private item",
    ),
    Case("GET", "/v1/meetings/{meeting_id}/notes/shared", statuses(200), MEETING),
    Case(
        "PUT",
        "/v1/meetings/{meeting_id}/notes/shared",
        statuses(200),
        MEETING,
        body=lambda w: {"body": "rewritten"},
        headers={"If-Match": '"1"'},
    ),
    Case("GET", "/v1/meetings/{meeting_id}/notes/private", statuses(200), MEETING, check=_private_note),
    Case(
        "PUT",
        "/v1/meetings/{meeting_id}/notes/private",
        statuses(200),
        MEETING,
        body=lambda w: {"body": "rewritten"},
        check=_written_by_caller("author_id"),
    ),
    Case("GET", "/v1/pairs/{pair_id}/action-items", statuses(200), PAIR),
    Case("GET", "/v1/me/action-items", statuses(200, allowed=EVERYONE), check=_my_action_items),
    Case(
        "POST",
        "/v1/meetings/{meeting_id}/action-items",
        statuses(201),
        MEETING,
        body=lambda w: {"body": "follow up", "owner_id": w.o.report.id},
    ),
    Case(
        "PATCH",
        "/v1/action-items/{item_id}",
        statuses(200),
        lambda w: {"item_id": w.action.id},
        body=lambda w: {"done": True},
    ),
    Case("DELETE", "/v1/action-items/{item_id}", statuses(204), lambda w: {"item_id": w.action.id}),
    Case(
        "PUT",
        "/v1/meetings/{meeting_id}/feedback",
        statuses(200),
        MEETING,
        body=lambda w: {"rating": 2},
        check=_written_by_caller("person_id"),
    ),
    Case("GET", "/v1/meetings/{meeting_id}/feedback", statuses(200), MEETING, check=_own_feedback),
    # templates: readable and creatable by anyone; applying one is content
    Case("GET", "/v1/templates", statuses(200, allowed=EVERYONE)),
    Case(
        "GET", "/v1/templates/{template_id}", statuses(200, allowed=EVERYONE), lambda w: {"template_id": w.template.id}
    ),
    Case(
        "POST",
        "/v1/templates",
        statuses(201, allowed=EVERYONE),
        body=lambda w: {"name": "Quarterly", "sections": [{"title": "Goals", "minutes": 10}]},
    ),
    # editing and deleting one: its creator (the report here) or an admin; visible to all, so 403
    Case(
        "PATCH",
        "/v1/templates/{template_id}",
        statuses(200, allowed=("report", "admin"), others=403),
        lambda w: {"template_id": w.template.id},
        body=lambda w: {"sections": [{"title": "Goals", "minutes": 10}, {"title": "Check-in", "minutes": 5}]},
    ),
    Case(
        "DELETE",
        "/v1/templates/{template_id}",
        statuses(204, allowed=("report", "admin"), others=403),
        lambda w: {"template_id": w.template.id},
    ),
    Case(
        "POST",
        "/v1/meetings/{meeting_id}:apply-template",
        statuses(200),
        MEETING,
        body=lambda w: {"template_id": w.template.id},
    ),
    # findings follow the pair
    Case("GET", "/v1/findings", statuses(200, allowed=EVERYONE), check=_findings),
    Case("GET", "/v1/findings/{finding_id}", statuses(200, allowed=SEES_PAIR), lambda w: {"finding_id": w.finding.id}),
    Case(
        "POST",
        "/v1/findings/{finding_id}:acknowledge",
        statuses(200, allowed=SEES_PAIR),
        lambda w: {"finding_id": w.finding.id},
    ),
    # insights: a pair's follow the pair; a team's aggregates go up the management chain
    # (rows per pair only to who sees the pairs); the org's are for hr and admins
    Case("GET", "/v1/insights/pairs/{pair_id}", statuses(200, allowed=SEES_PAIR), PAIR),
    Case(
        "GET",
        "/v1/insights/managers/{manager_id}",
        statuses(200, allowed=("manager", "boss", "admin")),
        lambda w: {"manager_id": w.o.manager.id},
        check=_team,
    ),
    Case("GET", "/v1/insights/org", statuses(200, allowed=("hr", "admin"), others=403)),
    # calendars: one's own; admins see and disconnect anyone's. Connecting is for one's own
    # calendar (a redirect to the consent screen); the callback trusts only its signed state.
    Case("GET", "/v1/calendars", statuses(200, allowed=EVERYONE), check=_calendars),
    Case("GET", "/v1/calendars/{provider}/connect", statuses(302, allowed=EVERYONE), lambda w: {"provider": "google"}),
    Case(
        "GET",
        "/v1/calendars/{provider}/callback",
        statuses(400, allowed=EVERYONE),
        lambda w: {"provider": "google"},
        variant="no state",
    ),
    Case(
        "DELETE",
        "/v1/calendars/{calendar_id}",
        statuses(200, allowed=("report", "admin")),
        lambda w: {"calendar_id": w.calendar.id},
    ),
    # outbound webhook endpoints: admins only
    Case("GET", "/v1/webhook-endpoints", ADMINS_ONLY(200)),
    Case(
        "POST",
        "/v1/webhook-endpoints",
        ADMINS_ONLY(201),
        body=lambda w: {"url": "https://hooks.example.com/in", "event_types": ["finding.opened"]},
    ),
    Case("GET", "/v1/webhook-endpoints/{endpoint_id}", ADMINS_ONLY(200), ENDPOINT),
    Case("PATCH", "/v1/webhook-endpoints/{endpoint_id}", ADMINS_ONLY(200), ENDPOINT, body=lambda w: {"enabled": False}),
    Case("DELETE", "/v1/webhook-endpoints/{endpoint_id}", ADMINS_ONLY(204), ENDPOINT),
    Case("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret", ADMINS_ONLY(200), ENDPOINT),
    Case("GET", "/v1/webhook-endpoints/{endpoint_id}/attempts", ADMINS_ONLY(200), ENDPOINT),
    Case(
        "POST",
        "/v1/webhook-endpoints/{endpoint_id}/events/{event_id}/redeliver",
        ADMINS_ONLY(202),
        lambda w: {"endpoint_id": w.endpoint.id, "event_id": w.event_id},
    ),
]

CELLS = [pytest.param(case, role, id=f"{case.id} as {role}") for case in CASES for role in ROLES]


def test_every_v1_route_is_in_the_matrix():
    routes = {(op.method, op.path) for op in v1_operations()}
    assert ("GET", "/v1/me") in routes and len(routes) > 30, routes  # the enumeration itself works
    table = {(case.method, case.route) for case in CASES}
    assert not routes - table, f"add these endpoints to the authorization matrix: {sorted(routes - table)}"
    assert not table - routes, f"the matrix names endpoints the app does not serve: {sorted(table - routes)}"
    for case in CASES:
        assert set(case.expect) == set(ROLES), case.id
    assert len({c.id for c in CASES}) == len(CASES), "duplicate case (give it a variant)"


# --- the world every cell starts from ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def matrix_settings(db_url) -> Settings:
    """One key for the whole matrix: the conftest's `app` then serves every cell the same
    app (building one costs more than a cell), bound to the cell's clock."""
    return Settings(
        database_url=db_url,
        secret_key=generate_key(),
        _env_file=None,
        google=GoogleSettings(client_id="matrix", client_secret="matrix-secret"),
    )


@pytest.fixture
def settings(matrix_settings) -> Settings:
    return matrix_settings


@pytest.fixture
async def world(factory, sessions, clock):
    """`factory.org()` plus a meeting of `pair` that is over (the clock is past its end, so
    feedback is open) with one of each kind of content; built in one transaction."""
    o = await factory.org()
    w = SimpleNamespace(o=o)
    created = {"created_at": T0, "updated_at": T0}
    async with sessions() as s:
        w.meeting = m = Meeting(
            pair_id=o.pair.id,
            title="Weekly",
            original_start=MEETING_START,
            start=MEETING_START,
            end=MEETING_START + timedelta(minutes=30),
            status="scheduled",
            **created,
        )
        connection = CalendarConnection(provider="google", kind="org", scopes="", status="active", **created)
        s.add(connection)
        await s.flush()
        w.calendar = Calendar(
            person_id=o.report.id,
            connection_id=connection.id,
            provider="google",
            external_id=o.report.email,
            status="active",
            next_poll_at=T0,
            failures=0,
            **created,
        )
        w.template = Template(
            name="Check-in",
            description="",
            created_by=o.report.id,
            sections=[{"title": "Check-in", "minutes": 5, "prompts": ["How are you?"]}],
            **created,
        )
        w.endpoint = WebhookEndpoint(
            url="https://hooks.example.com/in",
            description="",
            event_types=["finding.opened"],
            enabled=True,
            secret_encrypted="sealed",
            **created,
        )
        s.add_all([m, w.template, w.calendar, w.endpoint])
        await s.flush()
        await outbox.record(s, [outbox.Event(outbox.EventType.finding_opened, o.pair.id, {"finding_id": 1})], T0)
        w.event_id = await s.scalar(select(OutboxEvent.event_id))
        item = lambda author, body, private: AgendaItem(  # noqa: E731
            meeting_id=m.id, author_id=author.id, body=body, private=private, position=0, done=False, **created
        )
        w.shared_item = item(o.manager, "SHARED-AGENDA-ITEM", False)
        w.mgr_private = item(o.manager, "PRIVATE-AGENDA-OF-MANAGER", True)
        w.rep_private = item(o.report, "PRIVATE-AGENDA-OF-REPORT", True)
        w.action = ActionItem(
            pair_id=o.pair.id, meeting_id=m.id, owner_id=o.report.id, body="ACTION-ITEM-TEXT", **created
        )
        rated = {"created_at": NOW, "updated_at": NOW}
        w.finding = Finding(
            pair_id=o.pair.id,
            meeting_id=m.id,
            type="cadence_gap",
            key="cadence_gap:matrix",
            details={},
            detected_at=NOW,
        )
        s.add_all(
            [
                w.shared_item,
                w.mgr_private,
                w.rep_private,
                w.action,
                w.finding,
                SharedNote(meeting_id=m.id, body="SHARED-NOTE-TEXT", version=1, updated_by=o.manager.id, updated_at=T0),
                PrivateNote(meeting_id=m.id, author_id=o.manager.id, body="PRIVATE-NOTE-OF-MANAGER", **created),
                PrivateNote(meeting_id=m.id, author_id=o.report.id, body="PRIVATE-NOTE-OF-REPORT", **created),
                Feedback(meeting_id=m.id, person_id=o.manager.id, rating=4, comment="FEEDBACK-OF-MANAGER", **rated),
                Feedback(meeting_id=m.id, person_id=o.report.id, rating=2, comment="FEEDBACK-OF-REPORT", **rated),
            ]
        )
        await s.commit()
        w.report_token_id = await s.scalar(select(ApiToken.id).where(ApiToken.person_id == o.report.id))
    clock.set(NOW)  # the meeting is over: feedback may be given
    return w


async def _snapshot(sessions) -> dict[str, list]:
    """Every row of every table, to prove that a refused request wrote nothing."""
    async with sessions() as s:
        return {
            t.name: sorted((tuple(row) for row in (await s.execute(select(t))).all()), key=repr)
            for t in Base.metadata.sorted_tables
        }


def _url(case: Case, params: dict[str, int]) -> str:
    return case.route.format(**params)


async def _call(client, case: Case, w, role: str, params: dict[str, int]):
    kwargs: dict[str, Any] = {"headers": {**w.o.h[role], **case.headers}}
    if case.body is not None:
        kwargs["json"] = case.body(w)
    return await client.request(case.method, _url(case, params), **kwargs)


def _without_ids(body: dict, ids: list[int]) -> dict:
    def scrub(value):
        if isinstance(value, str):
            for i in ids:
                value = re.sub(rf"\b{i}\b", "{id}", value)
        return value

    return {key: scrub(value) for key, value in body.items()}


@pytest.mark.parametrize("case, role", CELLS)
async def test_matrix(client, sessions, world, case: Case, role: str):
    w = world
    expected = case.expect[role]
    params = case.target(w)
    before = await _snapshot(sessions) if expected >= 400 else None

    r = await _call(client, case, w, role, params)

    assert r.status_code == expected, f"{case.id} as {role}: {r.status_code} {r.text[:300]}"
    if expected >= 400:
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["status"] == expected
        assert await _snapshot(sessions) == before, f"{case.id} as {role} was refused but wrote"
    for secret in NEVER_SEEN_BY[role]:
        assert secret not in r.text, f"{case.id} as {role} shows {secret}"
    if expected < 300 and case.check is not None:
        case.check(w, role, r.json())

    if expected == 404:
        # Hidden must look exactly like missing: same status, type, title and detail.
        missing = await _call(client, case, w, role, dict.fromkeys(params, MISSING_ID))
        assert missing.status_code == 404 and missing.headers["content-type"] == r.headers["content-type"]
        assert _without_ids(r.json(), list(params.values())) == _without_ids(missing.json(), [MISSING_ID])
