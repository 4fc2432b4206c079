"""Hostile input gets a 4xx problem, never a 500, and writes nothing.

Ids beyond BIGINT, forged cursors, timestamps that overflow once converted to UTC,
absurd entity tags, NUL characters PostgreSQL cannot store, and a deterministic
fuzz table over every `/v1` route with a JSON body: not JSON at all, a JSON array or
scalar, each field with the wrong type, each field as a 1 MB string."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr, TypeAdapter, ValidationError
from sqlalchemy import select

from service.api.schemas.common import MAX_ID, Day, UTCTimestamp
from service.db.models import Base
from service.security.crypto import generate_key
from tests.api.routes import v1_operations
from tests.conftest import ROOT, T0

PROBLEM = "application/problem+json"
OPERATIONS = v1_operations()
OVERFLOWING = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]  # valid locally, not in UTC
OUT_OF_RANGE = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1899-12-31T23:59:59Z", "2201-01-01T00:00:00Z"]
NOT_TIMESTAMPS = ["2026-03-02T10:00:00", "2026-03-02", "1700000000", "0", "", "now", "2026-03-02T25:00:00Z"]
MB = 1_000_000


def b64(raw: str | bytes) -> str:
    raw = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def assert_problem(r, status: int, context: str = "") -> dict:
    where = (context, r.request.method, str(r.request.url)[:200], r.status_code, r.text[:300])
    assert 400 <= r.status_code < 500, where
    assert r.status_code == status, where
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == r.status_code
    return body


def error_fields(r) -> set[str]:
    return {e["field"] for e in r.json().get("errors") or []}


async def snapshot(sessions) -> dict[str, list]:
    """Every row of every table."""
    async with sessions() as s:
        return {
            t.name: sorted((tuple(row) for row in (await s.execute(select(t))).all()), key=repr)
            for t in Base.metadata.sorted_tables
        }


@pytest.fixture
def settings(settings):
    """With a secret key: creating a webhook endpoint stores its signing secret encrypted."""
    return settings.model_copy(update={"secret_key": SecretStr(generate_key())})


@pytest.fixture
async def world(factory):
    """An org and a past meeting of `pair` (feedback is open) with an agenda item and an
    action item by the report, and a template."""
    o = await factory.org()
    w = SimpleNamespace(o=o, h=o.h)
    w.meeting = await factory.meeting(o.pair, start=T0 - timedelta(days=1))
    w.item = await factory.agenda_item(w.meeting, o.report)
    w.action = await factory.action_item(o.pair, o.report, meeting_id=w.meeting.id)
    w.template = await factory.template(name="Check-in", created_by=o.report.id)
    w.finding = await factory.finding(o.pair)
    w.endpoint = await factory.webhook_endpoint()
    return w


def _caller(path: str) -> str:
    """Who may call the route at all (its refusals must come from the input, not a 403)."""
    return "admin" if path.startswith("/v1/webhook-endpoints") else "report"


def _path(op_path: str, w, **override: Any) -> str:
    ids = {
        "person_id": w.o.report.id,
        "pair_id": w.o.pair.id,
        "meeting_id": w.meeting.id,
        "item_id": w.item.id if "agenda" in op_path else w.action.id,
        "template_id": w.template.id,
        "finding_id": w.finding.id,
        "manager_id": w.o.manager.id,
        "endpoint_id": w.endpoint.id,
        "event_id": "evt_01JF0000000000000000000000",
    }
    ids.update(override)
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), op_path)


# --- ids: one definition, 422 beyond it -------------------------------------------------------------------


def test_the_id_limit_is_defined_once():
    """`MAX_ID` / `Id` live in service/api/schemas/common.py; no router or schema keeps its own."""
    pattern = re.compile(r"2\s*\*\*\s*63|MAX_ID\s*=|^\w*Id\s*=\s*Annotated", re.MULTILINE)
    owners = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "service" / "api").rglob("*.py") if pattern.search(p.read_text())
    )
    owners += sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "service" / "domain").glob("*.py") if pattern.search(p.read_text())
    )
    assert owners == ["service/api/schemas/common.py"]
    assert MAX_ID == 2**63 - 1


def test_every_id_parameter_is_bounded_in_the_openapi_document():
    from service.api.openapi import document

    spec = json.loads(document())
    seen = 0
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            for param in op.get("parameters", []):
                if not param["name"].endswith("_id") or param["name"] == "event_id":  # event ids are text
                    continue
                schema = param["schema"]
                schema = next((s for s in schema.get("anyOf", [schema]) if s.get("type") == "integer"), schema)
                assert (schema.get("minimum"), schema.get("maximum")) == (1, MAX_ID), (method, path, param)
                seen += 1
    assert seen >= 25


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.path_params], ids=lambda op: f"{op.method} {op.path}")
async def test_out_of_range_path_ids_are_422(client, world, op):
    for bad in (0, -1, MAX_ID + 1, 2**70, "abc", "1.5"):
        url = _path(op.path, world, **dict.fromkeys(op.path_params, bad))
        r = await client.request(op.method, url, headers=world.h[_caller(op.path)])
        assert_problem(r, 422)
        assert {f"path.{name}" for name in op.path_params} <= error_fields(r), (url, r.text[:300])


QUERY_IDS = [(op, name) for op in OPERATIONS for name in op.query_params if name.endswith("_id")]


@pytest.mark.parametrize("op, name", QUERY_IDS, ids=lambda v: getattr(v, "path", v))
async def test_out_of_range_query_ids_are_422(client, world, op, name):
    for bad in (0, MAX_ID + 1, 2**70, "abc"):
        r = await client.get(_path(op.path, world), params={name: bad}, headers=world.h["admin"])
        assert_problem(r, 422)
        assert error_fields(r) == {f"query.{name}"}


async def test_integers_in_paths_and_queries_are_decimal_digits(client, world):
    """int() reads "1_0" as 10 and "1.0", "+1", " 1" as 1: a path or query integer is
    written in decimal digits only (schemathesis found "1.0" and "1_0" accepted as ids)."""
    h, pid = world.h["report"], world.o.report.id
    for bad in (f"{pid}.0", f"{pid}_0", f"+{pid}", f" {pid}", f"{pid} ", f"{pid}e0", "\uff11", "0x1"):
        r = await client.get(f"/v1/people/{bad}", headers=h)
        assert_problem(r, 422, bad)
        assert error_fields(r) == {"path.person_id"}
        r = await client.get("/v1/people", params={"manager_id": bad}, headers=h)
        assert_problem(r, 422, bad)
        r = await client.get("/v1/people", params={"limit": bad.replace(str(pid), "5")}, headers=h)
        assert_problem(r, 422, bad)
        assert error_fields(r) == {"query.limit"}
    assert (await client.get(f"/v1/people/{pid}", headers=h)).status_code == 200
    assert (await client.get(f"/v1/people/0{pid}", headers=h)).status_code == 200
    r = await client.get("/v1/people", params={"limit": "5", "manager_id": str(world.o.manager.id)}, headers=h)
    assert r.status_code == 200 and [p["id"] for p in r.json()["items"]] == [pid]


async def test_people_regressions(client, world):
    h = world.h["member"]
    r = await client.get(f"/v1/people/{2**70}", headers=h)
    assert_problem(r, 422)
    r = await client.get("/v1/people", params={"cursor": b64(json.dumps(["x"]))}, headers=h)
    assert assert_problem(r, 400)["detail"] == "invalid cursor"
    r = await client.get("/v1/people", params={"q": "%"}, headers=h)  # LIKE wildcards are literal text
    assert r.status_code == 200 and r.json()["items"] == []
    r = await client.get("/v1/people", params={"q": "OTHER REP"}, headers=h)  # names ignore case
    assert [p["id"] for p in r.json()["items"]] == [world.o.other_report.id]
    assert_problem(await client.get("/v1/people", params={"q": "x" * 201}, headers=h), 422)


# --- cursors ----------------------------------------------------------------------------------------------

BAD_CURSORS = [
    "!!",
    b64("nope"),
    b64("{}"),
    b64("[]"),
    b64('["x"]'),
    b64("[true]"),
    b64("[1.5]"),
    b64("[null]"),
    b64(f"[{2**64}]"),
    b64(f"[-{2**64}]"),
    b64("[" + "9" * 5000 + "]"),
    b64("[" * 10_000 + "]" * 10_000),
    b64("[1, 2, 3]"),
    "\u00e9\u00e9",
    b64(b"[\xff\xfe]"),
]
CURSOR_OPS = [op for op in OPERATIONS if "cursor" in op.query_params]


@pytest.mark.parametrize("op", CURSOR_OPS, ids=lambda op: op.path)
async def test_forged_cursors_are_400(client, world, op):
    for cursor in BAD_CURSORS:
        r = await client.get(_path(op.path, world), params={"cursor": cursor}, headers=world.h[_caller(op.path)])
        assert assert_problem(r, 400, cursor[:40])["detail"] == "invalid cursor"


def test_every_paged_route_is_covered():
    assert {op.path for op in CURSOR_OPS} == {
        "/v1/people",
        "/v1/pairs",
        "/v1/pairs/{pair_id}/meetings",
        "/v1/meetings",
        "/v1/meetings/{meeting_id}/agenda",
        "/v1/me/action-items",
        "/v1/pairs/{pair_id}/action-items",
        "/v1/templates",
        "/v1/findings",
        "/v1/calendars",
        "/v1/webhook-endpoints",
        "/v1/webhook-endpoints/{endpoint_id}/attempts",
    }


# --- timestamps -------------------------------------------------------------------------------------------


def test_utc_timestamp_type():
    adapter = TypeAdapter(UTCTimestamp)
    assert adapter.validate_python("2026-03-02T10:00:00+01:00").isoformat() == "2026-03-02T09:00:00+00:00"
    assert adapter.validate_python("2026-03-02 10:00:00Z").isoformat() == "2026-03-02T10:00:00+00:00"
    assert adapter.validate_python("1900-01-01T00:00:00Z").year == 1900  # the edges themselves are fine
    assert adapter.validate_python("2200-12-31T23:59:59-12:00").year == 2201  # the year as written counts
    for value in [*OVERFLOWING, *OUT_OF_RANGE, *NOT_TIMESTAMPS]:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_day_type():
    adapter = TypeAdapter(Day)
    assert adapter.validate_python("2026-03-02") == date(2026, 3, 2)
    assert adapter.validate_python("2200-12-31") == date(2200, 12, 31)
    for value in [
        "0001-01-01",
        "1899-12-31",
        "2201-01-01",
        "9999-12-31",
        0,
        1_700_000_000,
        "0",
        "1700000000",
        True,
        1.5,
        "2026-03-02T00:00:00",
        "2026-3-2",
        "20260302",
        "2026-02-30",
        None,
    ]:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


async def test_timestamps_overflowing_in_utc_are_422(client, world):
    h, pair = world.h["report"], world.o.pair.id
    for value in OVERFLOWING:
        for url, param in [
            (f"/v1/pairs/{pair}/meetings", "from"),
            (f"/v1/pairs/{pair}/meetings", "to"),
            ("/v1/meetings", "from"),
            ("/v1/meetings", "to"),
            (f"/v1/insights/pairs/{pair}", "from"),
            (f"/v1/insights/pairs/{pair}", "to"),
            (f"/v1/insights/managers/{world.o.manager.id}", "to"),
            ("/v1/insights/org", "from"),
        ]:
            r = await client.get(url, params={param: value}, headers=world.h["admin"] if "org" in url else h)
            assert_problem(r, 422)
            assert error_fields(r) == {f"query.{param}"}, (url, param, r.text[:300])
        ok = "2026-03-10T10:00:00Z"
        for body, field in [({"start": value, "end": ok}, "start"), ({"start": ok, "end": value}, "end")]:
            r = await client.post(f"/v1/pairs/{pair}/meetings", json=body, headers=h)
            assert_problem(r, 422)
            assert f"body.{field}" in error_fields(r)
        r = await client.patch(f"/v1/meetings/{world.meeting.id}", json={"start": value}, headers=h)
        assert_problem(r, 422)


async def test_timestamps_outside_the_years_1900_to_2200_are_422(client, world):
    """Year 1 and 9999 were accepted, stored by PostgreSQL as ±infinity and broke arithmetic later."""
    h, pair = world.h["report"], world.o.pair.id
    for value in [*OUT_OF_RANGE, *NOT_TIMESTAMPS]:
        for url, param in [
            (f"/v1/pairs/{pair}/meetings", "from"),
            (f"/v1/pairs/{pair}/meetings", "to"),
            (f"/v1/insights/pairs/{pair}", "from"),
            (f"/v1/insights/managers/{world.o.manager.id}", "to"),
        ]:
            r = await client.get(url, params={param: value}, headers=h)
            assert_problem(r, 422, f"{url} {param}={value}")
            assert error_fields(r) == {f"query.{param}"}
    ok = "2026-03-10T10:00:00Z"
    for value in [*OUT_OF_RANGE, *NOT_TIMESTAMPS, 0, 1_700_000_000, True]:
        r = await client.post(f"/v1/pairs/{pair}/meetings", json={"start": value, "end": ok}, headers=h)
        assert_problem(r, 422, repr(value))
        assert "body.start" in error_fields(r)
        r = await client.patch(f"/v1/meetings/{world.meeting.id}", json={"end": value}, headers=h)
        assert_problem(r, 422, repr(value))
        assert error_fields(r) == {"body.end"}
    body = {"body": "x", "owner_id": world.o.report.id}
    for value in ["0001-01-01", "9999-12-31", "1899-12-31", "2201-01-01", 0, 20260302, "2026-03-02T00:00:00Z"]:
        r = await client.post(
            f"/v1/meetings/{world.meeting.id}/action-items", json={**body, "due_date": value}, headers=h
        )
        assert_problem(r, 422, repr(value))
        assert error_fields(r) == {"body.due_date"}
        r = await client.patch(f"/v1/action-items/{world.action.id}", json={"due_date": value}, headers=h)
        assert_problem(r, 422, repr(value))
    r = await client.get(f"/v1/pairs/{pair}/meetings", params={"from": "1900-01-01T00:00:00Z"}, headers=h)
    assert r.status_code == 200
    r = await client.patch(f"/v1/action-items/{world.action.id}", json={"due_date": "2200-12-31"}, headers=h)
    assert r.status_code == 200 and r.json()["due_date"] == "2200-12-31"


# --- notes ------------------------------------------------------------------------------------------------


async def test_a_private_note_never_written_has_no_timestamp(client, world, clock):
    url = f"/v1/meetings/{world.meeting.id}/notes/private"
    r = await client.get(url, headers=world.h["report"])
    assert r.status_code == 200
    assert r.json() == {"meeting_id": world.meeting.id, "author_id": world.o.report.id, "body": "", "updated_at": None}
    clock.set(T0 + timedelta(hours=2))
    assert (await client.put(url, json={"body": "mine"}, headers=world.h["report"])).json()[
        "updated_at"
    ] == "2026-03-02T11:00:00Z"
    assert (await client.get(url, headers=world.h["report"])).json()["updated_at"] == "2026-03-02T11:00:00Z"
    assert (await client.get(url, headers=world.h["manager"])).json()["updated_at"] is None


async def test_absurd_entity_tags_match_nothing(client, world, sessions):
    url = f"/v1/meetings/{world.meeting.id}/notes/shared"
    huge = '"' + "9" * 5000 + '"'
    before = await snapshot(sessions)
    r = await client.put(url, json={"body": "x"}, headers={**world.h["report"], "If-Match": huge})
    assert_problem(r, 412)
    r = await client.put(url, json={"body": "x"}, headers={**world.h["report"], "If-Match": ", ".join([huge] * 500)})
    assert_problem(r, 412)
    assert await snapshot(sessions) == before
    # A tag we never issued cannot match in If-None-Match either: the write goes ahead.
    r = await client.put(url, json={"body": "x"}, headers={**world.h["report"], "If-None-Match": huge})
    assert r.status_code == 200 and r.headers["etag"] == '"1"'


# --- NUL characters ---------------------------------------------------------------------------------------


async def test_nul_characters_are_refused_everywhere(client, world, sessions):
    h, m = world.h["report"], world.meeting.id
    before = await snapshot(sessions)
    for method, url, body in [
        ("POST", f"/v1/meetings/{m}/agenda", {"body": "a\x00b"}),
        ("PUT", f"/v1/meetings/{m}/notes/private", {"body": "a\x00b"}),
        ("PUT", f"/v1/meetings/{m}/notes/shared", {"body": "\x00"}),
        ("POST", "/v1/templates", {"name": "T", "sections": [{"title": "A", "minutes": 5, "prompts": ["a\x00"]}]}),
    ]:
        r = await client.request(method, url, json=body, headers=h)
        assert_problem(r, 422)
        assert any("NUL" in e["message"] for e in r.json()["errors"]), r.text
    r = await client.post(
        "/v1/people:import", headers=world.h["admin"], json={"people": [{"email": "nul@acme.test", "name": "N\x00"}]}
    )
    assert_problem(r, 422)
    for url in ("/v1/people", "/v1/templates"):
        assert_problem(await client.get(url, params={"q": "a\x00"}, headers=h), 422)
    assert await snapshot(sessions) == before


# --- the fuzz table ---------------------------------------------------------------------------------------


def _slot(days: int) -> dict[str, str]:
    start = T0 + timedelta(days=days)
    return {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}


# A valid body for every route with one, and who sends it: each field of the body is
# then mutated in turn. The valid body is sent last and must succeed, which proves the
# refusals were about the body, not about the caller or the target.
VALID: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("POST", "/v1/people:import"): (
        "admin",
        lambda w: {
            "people": [
                {
                    "email": "new@acme.test",
                    "name": "New",
                    "timezone": "Europe/Berlin",
                    "manager": w.o.manager.email,
                    "role": "member",
                }
            ]
        },
    ),
    ("PATCH", "/v1/pairs/{pair_id}"): ("report", lambda w: {"cadence_days": 14}),
    ("POST", "/v1/pairs/{pair_id}/meetings"): (
        "report",
        lambda w: {"title": "Weekly", **_slot(3), "template_id": w.template.id},
    ),
    ("PATCH", "/v1/meetings/{meeting_id}"): ("report", lambda w: {"title": "Renamed", **_slot(4)}),
    ("POST", "/v1/meetings/{meeting_id}/agenda"): (
        "report",
        lambda w: {"body": "growth", "private": True, "minutes": 10},
    ),
    ("PATCH", "/v1/agenda-items/{item_id}"): (
        "report",
        lambda w: {"body": "reworded", "private": True, "minutes": 5, "done": True, "position": 0},
    ),
    ("PUT", "/v1/meetings/{meeting_id}/notes/shared"): ("report", lambda w: {"body": "shared text"}),
    ("PUT", "/v1/meetings/{meeting_id}/notes/private"): ("report", lambda w: {"body": "private text"}),
    ("POST", "/v1/meetings/{meeting_id}/action-items"): (
        "report",
        lambda w: {
            "body": "follow up",
            "owner_id": w.o.manager.id,
            "due_date": (T0 + timedelta(days=7)).date().isoformat(),
        },
    ),
    ("PATCH", "/v1/action-items/{item_id}"): (
        "report",
        lambda w: {
            "body": "follow up",
            "owner_id": w.o.manager.id,
            "due_date": date(2026, 4, 1).isoformat(),
            "done": True,
        },
    ),
    ("POST", "/v1/templates"): (
        "member",
        lambda w: {
            "name": "Quarterly",
            "description": "Goals",
            "sections": [{"title": "Goals", "minutes": 10, "prompts": ["What went well?"]}],
        },
    ),
    ("PATCH", "/v1/templates/{template_id}"): (
        "report",
        lambda w: {
            "name": "Renamed",
            "description": "Goals first",
            "sections": [{"title": "Goals", "minutes": 10, "prompts": ["What went well?"]}],
        },
    ),
    ("POST", "/v1/meetings/{meeting_id}:apply-template"): ("report", lambda w: {"template_id": w.template.id}),
    ("PUT", "/v1/meetings/{meeting_id}/feedback"): ("report", lambda w: {"rating": 4, "comment": "useful"}),
    ("POST", "/v1/webhook-endpoints"): (
        "admin",
        lambda w: {
            "url": "https://receiver.example.com/hooks",
            "event_types": ["finding.opened", "meeting.cancelled"],
            "description": "back office",
            "enabled": True,
        },
    ),
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): (
        "admin",
        lambda w: {
            "url": "https://receiver.example.com/other",
            "event_types": ["meeting.upcoming"],
            "description": "renamed",
            "enabled": False,
        },
    ),
}
BODY_OPS = [op for op in OPERATIONS if op.has_json_body]

# JSON values of the wrong type for a leaf of each type (none of them coerces: the
# request models are strict, so neither `true` nor "10" is an integer, nor 1 a boolean).
WRONG = {
    str: [12345, 1.5, True, {"x": 1}, ["x"]],
    bool: ["maybe", 2, 1, 0, "true", {"x": 1}, ["x"]],
    int: ["abc", 1.5, 10.0, True, False, "10", {"x": 1}, ["x"]],
    list: ["x", {"x": 1}, 12345],
    dict: ["x", ["x"], 12345],
}


def _leaves(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every (path, value) in a JSON document, containers included, the root aside."""
    found = [(path, value)] if path else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _leaves(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _leaves(child, (*path, i))
    return found


def _replace(doc: Any, path: tuple, new: Any) -> Any:
    doc = json.loads(json.dumps(doc))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return doc


def mutations(valid: dict) -> list[tuple[str, Any]]:
    """(label, body) pairs, every one of them invalid."""
    out: list[tuple[str, Any]] = [("unknown field", {**valid, "unexpected": 1})]
    for path, value in _leaves(valid):
        where = ".".join(map(str, path))
        for wrong in WRONG[type(value)]:
            out.append((f"{where} = {json.dumps(wrong)}", _replace(valid, path, wrong)))
        out.append((f"{where} = 1 MB string", _replace(valid, path, "x" * MB)))
        if isinstance(value, str):
            out.append((f"{where} with NUL", _replace(valid, path, value + "\x00")))
    return out


RAW_BODIES = [  # (label, content type, bytes, expected status)
    ("not JSON", "application/json", b"this is not json", 422),
    ("truncated JSON", "application/json", b'{"body": "x"', 422),
    ("empty", "application/json", b"", 422),
    ("not UTF-8", "application/json", b'{"body": "\xff\xfe"}', 400),
    ("text/plain", "text/plain", b"hello", 422),
    ("form", "application/x-www-form-urlencoded", b"body=x", 422),
    ("null", "application/json", b"null", 422),
    ("a string", "application/json", b'"body"', 422),
    ("a number", "application/json", b"42", 422),
    ("absurdly nested", "application/json", b"[" * 100_000 + b"]" * 100_000, 400),
    ("1 MB of garbage", "application/json", b"\x00" * MB, 422),
]


def test_the_fuzz_table_covers_every_json_body():
    assert {(op.method, op.path) for op in BODY_OPS} == set(VALID)


@pytest.mark.parametrize("op", BODY_OPS, ids=lambda op: f"{op.method} {op.path}")
async def test_fuzzed_bodies_are_4xx_and_write_nothing(client, world, sessions, op):
    role, make = VALID[(op.method, op.path)]
    headers = world.h[role]
    url = _path(op.path, world)
    valid = make(world)
    before = await snapshot(sessions)

    for label, content_type, raw, status in RAW_BODIES:
        r = await client.request(op.method, url, content=raw, headers={**headers, "Content-Type": content_type})
        assert_problem(r, status, label)
    r = await client.request(op.method, url, json=[valid], headers=headers)  # a JSON array of the body
    assert_problem(r, 422)
    for label, body in mutations(valid):
        assert_problem(await client.request(op.method, url, json=body, headers=headers), 422, label)

    assert await snapshot(sessions) == before, "a refused request wrote something"
    r = await client.request(op.method, url, json=valid, headers=headers)
    assert r.status_code in (200, 201), r.text


# --- strict types -----------------------------------------------------------------------------------------


async def test_no_loose_coercion_in_bodies(client, world, sessions):
    """The security review's cases: `cadence_days: true` was stored as 1, `due_date: 0` as 1970-01-01."""
    h, m = world.h["report"], world.meeting.id
    before = await snapshot(sessions)
    for method, url, body, field in [
        ("PATCH", f"/v1/pairs/{world.o.pair.id}", {"cadence_days": True}, "cadence_days"),
        ("PATCH", f"/v1/pairs/{world.o.pair.id}", {"cadence_days": "14"}, "cadence_days"),
        ("PATCH", f"/v1/pairs/{world.o.pair.id}", {"cadence_days": 14.0}, "cadence_days"),
        (
            "POST",
            f"/v1/meetings/{m}/action-items",
            {"body": "x", "owner_id": world.o.report.id, "due_date": 0},
            "due_date",
        ),
        ("POST", f"/v1/meetings/{m}/action-items", {"body": "x", "owner_id": True}, "owner_id"),
        ("POST", f"/v1/meetings/{m}/action-items", {"body": 5, "owner_id": world.o.report.id}, "body"),
        ("POST", f"/v1/meetings/{m}/agenda", {"body": "x", "private": 1}, "private"),
        ("POST", f"/v1/meetings/{m}/agenda", {"body": "x", "minutes": "10"}, "minutes"),
        ("PATCH", f"/v1/agenda-items/{world.item.id}", {"position": True}, "position"),
        ("PATCH", f"/v1/agenda-items/{world.item.id}", {"done": "yes"}, "done"),
        ("PUT", f"/v1/meetings/{m}/feedback", {"rating": 4.0}, "rating"),
        ("POST", f"/v1/meetings/{m}:apply-template", {"template_id": str(world.template.id)}, "template_id"),
        ("POST", f"/v1/pairs/{world.o.pair.id}/meetings", {**_slot(3), "title": 11}, "title"),
        ("PUT", f"/v1/meetings/{m}/notes/shared", {"body": 1}, "body"),
    ]:
        r = await client.request(method, url, json=body, headers=h)
        assert_problem(r, 422, f"{method} {url} {body}")
        assert error_fields(r) == {f"body.{field}"}, r.text
    for role in (1, True):
        person = {"email": "x@acme.test", "name": "X", "role": role}
        r = await client.post("/v1/people:import", json={"people": [person]}, headers=world.h["admin"])
        assert_problem(r, 422)
        assert error_fields(r) == {"body.people.0.role"}
    assert await snapshot(sessions) == before


async def test_enums_and_query_parameters_still_parse_from_text(client, world):
    people = [{"email": "hr2@acme.test", "name": "HR", "role": "hr", "timezone": "Asia/Tokyo"}]
    r = await client.post("/v1/people:import", json={"people": people}, headers=world.h["admin"])
    assert r.status_code == 200, r.text
    r = await client.get(
        "/v1/pairs", params={"limit": "1", "active": "true", "role": "report"}, headers=world.h["report"]
    )
    assert r.status_code == 200 and [p["id"] for p in r.json()["items"]] == [world.o.pair.id]
    r = await client.get(
        f"/v1/pairs/{world.o.pair.id}/action-items", params={"status": "all", "limit": "10"}, headers=world.h["report"]
    )
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    r = await client.get(
        "/v1/findings", params={"acknowledged": "false", "type": "cadence_gap"}, headers=world.h["report"]
    )
    assert r.status_code == 200 and len(r.json()["items"]) == 1
