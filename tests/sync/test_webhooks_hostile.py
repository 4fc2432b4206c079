"""Hostile deliveries to the unauthenticated webhooks: a 4xx problem within
milliseconds, never a 500, never a stall of the rest of the service.

Bodies past the caps (1 MiB, 1,000 notifications, 64 JSON values per notification)
are refused with 413 before more is read or parsed; bodies that are not a notification
batch (not UTF-8 JSON, lone surrogates, nested too deep, 4,300+-digit numbers) with
400; malformed notifications (non-string ids and secrets, NUL, control or non-ASCII
characters, over-long strings) are rejected one by one like forged ones (403 when
nothing is accepted). Notifications for subscriptions that do not exist are
acknowledged (Graph retries refusals for hours) and never recorded unless we hold
a grant for their mailbox or tenant. A batch costs a constant number of
statements, and rejections are logged at a bounded rate while the metrics count
every one."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import structlog
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy import select as sql_select
from structlog.testing import capture_logs

from service.api.app import create_app
from service.db.models import PushChannel
from service.sandbox.serve import LoopbackServer
from service.settings import Settings
from service.sync.webhooks import Reason, RejectionLog
from tests.sync.sync_factories import calendar, channel, requests

PROBLEM = "application/problem+json"
MiB = 1 << 20
CAP = MiB  # webhooks.max_body_bytes' default
HUGE = 10 * 1_000_000  # the review's 10 MB body
FAST = 1.0  # seconds: a bound for any answer here on a busy 2-core machine
GRAPH_PATHS = ("/webhooks/microsoft", "/webhooks/microsoft/lifecycle")
PATHS = ("/webhooks/google", *GRAPH_PATHS)
JSON_HEADERS = {"Content-Type": "application/json"}
NOTE = {"changeType": "updated", "resource": "Users/x/Events/y", "tenantId": "t", "resourceData": {"id": "y"}}


@pytest.fixture(autouse=True)
def plain_structlog():
    """capture_logs only sees loggers not cached by an earlier in-process `configure()`."""
    structlog.reset_defaults()


def encode(body) -> bytes:
    """JSON as a hostile sender may write it: lone surrogates and NUL as \\u escapes."""
    return json.dumps(body, ensure_ascii=True).encode()


def item(sub: str, state: str, **extra) -> dict:
    return {**NOTE, "subscriptionId": sub, "clientState": state, **extra}


def graph_like(sub: str, state: str) -> dict:
    """A notification the size of Graph's for an event (152-character ids): about 1 KB."""
    tenant, event_id = "0f3c6b2e-1a2b-4c3d-9e8f-0123456789ab", "AAMkAGI2T" + "A" * 143
    resource = f"Users/{tenant}/Events/{event_id}"
    data = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, "@odata.etag": 'W/"DwAAABYAAAB"'}
    return {
        "subscriptionId": sub,
        "subscriptionExpirationDateTime": "2026-03-05T09:00:00.0000000+00:00",
        "changeType": "updated",
        "resource": resource,
        "resourceData": {**data, "id": event_id},
        "clientState": state,
        "tenantId": tenant,
    }


def forged(n: int) -> bytes:
    """A well-formed batch of `n` notifications for subscriptions that do not exist
    (acknowledged: Graph would retry a refusal for hours)."""
    return encode({"value": [item(f"sub-{i}", "guess") for i in range(n)]})


def wrong_state(n: int, sub: str = "sub-a") -> bytes:
    """`n` notifications for one of our subscriptions with a wrong clientState: refused."""
    return encode({"value": [item(sub, f"guess-{i}") for i in range(n)]})


async def post(client, path: str, content, headers=None):
    started = time.perf_counter()
    r = await client.post(path, content=content, headers={**JSON_HEADERS, **(headers or {})})
    return r, time.perf_counter() - started


def assert_problem(r, status: int, context: object = "") -> None:
    assert r.status_code == status, (context, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith(PROBLEM), context
    assert r.json()["status"] == status


async def _state(sessions, cal_id):
    """(a sync is requested, how many requests): one per accepted delivery."""
    n = await requests(sessions, cal_id)
    return n > 0, n


def _counted(provider: str, outcome: str = "rejected") -> float:
    labels = {"provider": provider, "outcome": outcome}
    return REGISTRY.get_sample_value("oneonone_webhook_notifications_total", labels) or 0.0


class Junk:
    """An async body of `total` bytes in 64 KiB chunks, counting what the server pulled."""

    def __init__(self, total: int, byte: bytes = b"[") -> None:
        self.total, self.byte, self.pulled = total, byte, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            chunk = self.byte * min(64 * 1024, self.total - self.pulled)
            self.pulled += len(chunk)
            yield chunk


# -- size caps ------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", PATHS)
async def test_a_body_over_the_cap_is_413_before_it_is_read(client, path, declared):
    body = Junk(HUGE)
    headers = {"Content-Length": str(HUGE)} if declared else {}
    r, elapsed = await post(client, path, body, headers)
    assert_problem(r, 413, path)
    assert elapsed < FAST, elapsed
    # Declared: nothing read. Chunked: read until the count passes the cap.
    assert body.pulled == 0 if declared else CAP < body.pulled <= CAP + 64 * 1024, body.pulled


@pytest.mark.parametrize("path", PATHS)
async def test_a_body_over_the_cap_in_memory_is_413(client, path):
    r, elapsed = await post(client, path, b"x" * HUGE)  # one 10 MB chunk, with Content-Length
    assert_problem(r, 413, path)
    assert elapsed < FAST, elapsed


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("length", "status"), [("abc", 400), ("-1", 400), ("1e9", 400), ("9" * 5000, 413)])
async def test_a_bad_content_length_is_a_problem(client, path, length, status):
    r, elapsed = await post(client, path, Junk(10), {"Content-Length": length})
    assert_problem(r, status, (path, length[:10]))
    assert elapsed < FAST


@pytest.mark.parametrize("path", GRAPH_PATHS)
async def test_more_than_1000_notifications_is_413(client, factory, sessions, path):
    cal = await calendar(factory, await factory.person(), provider="microsoft")
    await channel(factory, cal, "state-a", channel_id="sub-a")
    valid = item("sub-a", "state-a")
    small = [{"subscriptionId": f"s{i}", "clientState": "g"} for i in range(1999)]
    r, elapsed = await post(client, path, encode({"value": [valid, *small]}))  # 2,000 items, 100 KB
    assert_problem(r, 413, path)
    assert elapsed < FAST, elapsed
    assert await _state(sessions, cal.id) == (False, 0)  # refused whole: nothing marked
    # 1,000 is within the cap, even at ~1 KB each as Graph's are.
    big = [graph_like(f"{i:036d}", "x" * 64) for i in range(999)]
    body = encode({"value": [valid, *big]})
    assert 900_000 < len(body) <= CAP
    r, elapsed = await post(client, path, body)
    assert r.status_code == 202 and elapsed < FAST, (r.status_code, elapsed)
    assert await _state(sessions, cal.id) == (True, 1)


def test_the_item_cap_cannot_outgrow_one_query():
    with pytest.raises(ValidationError):
        Settings(_env_file=None, webhooks={"max_items": 40_000})  # past SQLite's 32,766 parameters


@pytest.mark.parametrize("path", GRAPH_PATHS)
async def test_too_many_json_values_is_413(client, path):
    """The parser's work is bounded before it starts: 64 values per allowed notification."""
    wide = b'{"value": [' + b"[]," * 70_000 + b"[]]}"  # 210 KB of empty arrays
    r, elapsed = await post(client, path, wide)
    assert_problem(r, 413)
    assert elapsed < FAST


# -- bodies that are not a batch: 400 --------------------------------------------------------------

UNPARSEABLE = {
    "not-json": b"not json",
    "empty": b"",
    "invalid-utf8": b'{"value": [{"subscriptionId": "\xff\xfe", "clientState": "x"}]}',
    "utf16": '{"value": [{"subscriptionId": "a", "clientState": "x"}]}'.encode("utf-16"),
    "raw-nul": b'{"value": [{"subscriptionId": "a\x00b", "clientState": "x"}]}',
    # Not Unicode: json.loads would take it, and encoding it later (database, log) would fail.
    "lone-surrogate": encode({"value": [item("sub-a\ud800", "x")]}),
    "lone-surrogate-ignored-field": encode({"value": [item("sub-a", "x", changeType="\udc00")]}),
    "int-5000-digits": b'{"value": [{"subscriptionId": ' + b"7" * 5000 + b', "clientState": "x"}]}',
    "int-5000-digits-ignored-field": b'{"value": [{"subscriptionId": "a", "clientState": "x", "n": '
    + b"7" * 5000
    + b"}]}",
    "nested-2000": b'{"value": [{"subscriptionId": "a", "clientState": "x", "resourceData": '
    + b"[" * 2000
    + b"]" * 2000
    + b"}]}",
    "nested-17": b'{"value": [{"subscriptionId": "a", "clientState": "x", "resourceData": '
    + b'{"a": ' * 14
    + b"1"
    + b"}" * 14
    + b"}]}",
    "array": b"[]",
    "scalar": b"3",
    "no-value": b"{}",
    "value-string": b'{"value": "x"}',
    "value-object": b'{"value": {}}',
    "value-empty": b'{"value": []}',
}


@pytest.mark.parametrize("path", GRAPH_PATHS)
@pytest.mark.parametrize("name", UNPARSEABLE)
async def test_a_body_that_is_not_a_batch_is_400(client, path, name):
    r, elapsed = await post(client, path, UNPARSEABLE[name])
    assert_problem(r, 400, name)
    assert elapsed < FAST, elapsed


@pytest.mark.parametrize("path", GRAPH_PATHS)
async def test_100000_levels_of_nesting_are_refused_at_once(client, path):
    deep = b'{"value": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    r, elapsed = await post(client, path, deep)
    assert_problem(r, 413)  # past the value budget, so never parsed
    assert elapsed < FAST
    r, elapsed = await post(client, path, b'{"value": [' + b'{"a":' * 100_000)  # unbalanced too
    assert_problem(r, 413)
    assert elapsed < FAST


# -- malformed notifications: rejected one by one ----------------------------------------------------

BAD_STRINGS = {
    "number": 7,
    "float": 1.5,
    "bool": True,
    "null": None,
    "object": {"id": "sub-a"},
    "list": ["sub-a"],
    "empty": "",
    "nul": "sub-a\x00",
    "non-ascii": "sub-ä",
    "newline": "sub-a\nforged=1",
    "long": "s" * 300_000,
}


@pytest.mark.parametrize("field", ["subscriptionId", "clientState"])
@pytest.mark.parametrize("bad", BAD_STRINGS)
async def test_a_malformed_notification_is_rejected_on_its_own(client, factory, sessions, field, bad):
    cal = await calendar(factory, await factory.person(), provider="microsoft")
    other = await calendar(factory, await factory.person(), provider="microsoft")
    await channel(factory, cal, "state-a", channel_id="sub-a")
    await channel(factory, other, "state-b", channel_id="sub-b")
    malformed = {**item("sub-a", "state-a"), field: BAD_STRINGS[bad]}
    missing = {k: v for k, v in item("sub-a", "state-a").items() if k != field}
    for path in GRAPH_PATHS:
        for body in ({"value": [malformed]}, {"value": [missing]}):
            r, elapsed = await post(client, path, encode(body))
            assert_problem(r, 403, (path, bad))
            assert elapsed < FAST
    assert await _state(sessions, cal.id) == (False, 0)
    r, _ = await post(client, GRAPH_PATHS[0], encode({"value": [malformed, item("sub-b", "state-b"), 3, "x", None]}))
    assert r.status_code == 202
    assert await _state(sessions, other.id) == (True, 1)
    assert await _state(sessions, cal.id) == (False, 0)


@pytest.mark.parametrize("bad", ["number", "object", "nul", "non-ascii", "long"])
async def test_a_malformed_lifecycle_event_is_rejected(client, factory, sessions, clock, bad):
    cal = await calendar(factory, await factory.person(), provider="microsoft")
    await channel(factory, cal, "st", channel_id="sub-1")
    body = {"value": [{"subscriptionId": "sub-1", "clientState": "st", "lifecycleEvent": BAD_STRINGS[bad]}]}
    r, _ = await post(client, "/webhooks/microsoft/lifecycle", encode(body))
    assert_problem(r, 403, bad)
    async with sessions() as s:
        row = (await s.scalars(sql_select(PushChannel))).one()
    assert row.stopped_at is None and row.expires_at > clock.now()
    assert await _state(sessions, cal.id) == (False, 0)


# -- Google's headers -----------------------------------------------------------------------------


def _google(channel_id: bytes | str, token: bytes | str, state: bytes | str = "exists") -> list[tuple[bytes, bytes]]:
    raw = lambda v: v if isinstance(v, bytes) else v.encode()  # noqa: E731
    return [
        (b"X-Goog-Channel-ID", raw(channel_id)),
        (b"X-Goog-Channel-Token", raw(token)),
        (b"X-Goog-Resource-State", raw(state)),
        (b"X-Goog-Message-Number", b"2"),
    ]


GOOGLE_HOSTILE = {
    "latin1-token": ("ch-1", b"s3cret\xe9"),
    "utf8-token": ("ch-1", "s3crét".encode()),
    "latin1-channel": (b"ch-1\xe9", "s3cret"),
    "nul-channel": (b"ch-\x001", "s3cret"),
    "nul-token": ("ch-1", b"s3c\x00ret"),
    "control-token": ("ch-1", b"s3cret\x7f"),
    "long-channel": ("c" * 20_000, "s3cret"),
    "long-token": ("ch-1", "t" * 20_000),
    "empty": ("", ""),
    "long-state": ("ch-1", "s3cret", "exists" * 5_000),
    "latin1-state": ("ch-1", "s3cret", b"exist\xe9"),
}


@pytest.mark.parametrize("name", GOOGLE_HOSTILE)
async def test_google_headers_of_any_bytes_are_403(client, factory, sessions, name):
    cal = await calendar(factory, await factory.person())
    await channel(factory, cal, "s3cret", channel_id="ch-1")
    started = time.perf_counter()
    r = await client.post("/webhooks/google", headers=_google(*GOOGLE_HOSTILE[name]))
    assert_problem(r, 403, name)
    assert time.perf_counter() - started < FAST
    assert await _state(sessions, cal.id) == (False, 0)
    r = await client.post("/webhooks/google", headers=_google("ch-1", "s3cret"))
    assert r.status_code == 200 and await _state(sessions, cal.id) == (True, 1)


# -- valid batches: same effects, constant cost ----------------------------------------------------


async def test_a_valid_batch_requests_each_calendars_sync_once(client, factory, sessions):
    cals = [await calendar(factory, await factory.person(), provider="microsoft") for _ in range(3)]
    for i, cal in enumerate(cals):
        await channel(factory, cal, f"state-{i}", channel_id=f"sub-{i}")
    await channel(factory, cals[0], "state-0b", channel_id="sub-0b")  # a second subscription of cals[0]
    body = {
        "value": [
            item("sub-0", "state-0"),
            item("sub-1", "state-1"),
            item("sub-0", "state-0"),  # duplicated
            item("sub-0b", "state-0b"),
            item("sub-2", "forged"),
            item("sub-9", "state-0"),
            {"subscriptionId": 5},
        ]
    }
    before = _counted("microsoft"), _counted("microsoft", "accepted"), _counted("microsoft", "orphaned")
    r, _ = await post(client, "/webhooks/microsoft", encode(body))
    assert r.status_code == 202
    assert [await _state(sessions, c.id) for c in cals] == [(True, 1), (True, 1), (False, 0)]
    assert (
        _counted("microsoft") - before[0],
        _counted("microsoft", "accepted") - before[1],
        _counted("microsoft", "orphaned") - before[2],  # sub-9: no such subscription
    ) == (2, 4, 1)


async def test_a_lifecycle_batch_keeps_the_one_by_one_semantics(client, factory, sessions, clock):
    cal = await calendar(factory, await factory.person(), provider="microsoft")
    other = await calendar(factory, await factory.person(), provider="microsoft")
    for sub, cal_ in (("sub-1", cal), ("sub-2", cal), ("sub-3", other), ("sub-4", other)):
        await channel(factory, cal_, "st", channel_id=sub)

    def note(sub, event=None):
        return {"subscriptionId": sub, "clientState": "st", **({"lifecycleEvent": event} if event else {})}

    body = {
        "value": [
            note("sub-1", "reauthorizationRequired"),
            note("sub-2", "subscriptionRemoved"),
            note("sub-2", "reauthorizationRequired"),  # after its removal: ignored
            note("sub-3", "missed"),
            note("sub-4", "somethingNew"),
        ]
    }
    assert (await post(client, "/webhooks/microsoft/lifecycle", encode(body)))[0].status_code == 202
    async with sessions() as s:
        rows = {c.channel_id: c for c in (await s.scalars(sql_select(PushChannel))).all()}
    week = clock.now() + timedelta(days=7)
    assert (rows["sub-1"].reauthorize_requested_at, rows["sub-1"].stopped_at) == (clock.now(), None)
    assert (rows["sub-2"].reauthorize_requested_at, rows["sub-2"].stopped_at) == (None, clock.now())
    assert all((rows[s].reauthorize_requested_at, rows[s].stopped_at) == (None, None) for s in ("sub-3", "sub-4"))
    assert all(row.expires_at == week for row in rows.values())
    assert await _state(sessions, cal.id) == (True, 1) and await _state(sessions, other.id) == (True, 1)


@pytest.mark.parametrize("path", GRAPH_PATHS)
async def test_a_batch_costs_a_constant_number_of_statements(client, factory, engine, path):
    cal = await calendar(factory, await factory.person(), provider="microsoft")
    events = ["reauthorizationRequired", "missed", "subscriptionRemoved"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    costs = {}
    for n in (9, 90, 999):
        for k in range(3):
            await channel(factory, cal, "st", channel_id=f"{n}-{k}")
        batch = [  # a third valid (each kind of lifecycle event), a third unknown or forged, a third malformed
            {"subscriptionId": f"{n}-{i // 3 % 3}", "clientState": "st", "lifecycleEvent": events[i // 3 % 3]}
            if i % 3 == 0
            else item(f"sub-{i}" if i % 2 else f"{n}-0", "guess")
            if i % 3 == 1
            else {"subscriptionId": i}
            for i in range(n)
        ]
        statements.clear()
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            r, elapsed = await post(client, path, encode({"value": batch}))
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert r.status_code == 202 and elapsed < FAST, (n, r.status_code, elapsed)
        costs[n] = len(statements)
    # One SELECT for the subscriptions, one INSERT requesting syncs (+ NOTIFY on PostgreSQL),
    # on the lifecycle path one UPDATE per kind of change, and for the unknown ones two
    # look-ups for a grant of their mailbox or tenant (none here: nothing recorded).
    assert len(set(costs.values())) == 1, costs
    assert costs[9] <= 7, (costs, statements)


# -- rate-limited logging -------------------------------------------------------------------------


async def test_rejections_are_logged_at_a_bounded_rate_and_all_counted(client, factory, clock):
    cal = await calendar(factory, await factory.person(), provider="microsoft")
    await channel(factory, cal, "state-a", channel_id="sub-a")
    before = _counted("microsoft"), _counted("google"), _counted("microsoft", "invalid")
    batch = encode({"value": [*json.loads(wrong_state(500))["value"], {"subscriptionId": 1}, "x"]})
    with capture_logs() as logs:
        for _ in range(3):
            assert (await post(client, "/webhooks/microsoft", batch))[0].status_code == 403
            assert (await post(client, "/webhooks/microsoft", b"{"))[0].status_code == 400
        for _ in range(50):
            assert (await client.post("/webhooks/google", headers=_google("ch-x", "guess"))).status_code == 403
        clock.set(clock.now() + timedelta(seconds=11))
        assert (await post(client, "/webhooks/microsoft", batch))[0].status_code == 403
    lines = [e for e in logs if e["event"] == "webhook_rejected"]
    seen = sorted((e["provider"], e["reason"], e["count"], e["suppressed"]) for e in lines)
    assert {e.get("sample_id") for e in lines if e["reason"] == "forbidden"} == {"ch-x", "sub-a"}
    assert seen == [
        ("google", "forbidden", 1, 0),
        ("microsoft", "forbidden", 500, 0),
        ("microsoft", "forbidden", 500, 1000),  # the next interval's line tells what was left out
        ("microsoft", "invalid", 1, 0),
        ("microsoft", "malformed", 2, 0),
        ("microsoft", "malformed", 2, 4),
    ]
    assert all("clientState" not in repr(e) and "guess" not in repr(e) for e in lines)  # no secret logged
    assert _counted("microsoft") - before[0] == 4 * 502  # every notification counted
    assert _counted("google") - before[1] == 50
    assert _counted("microsoft", "invalid") - before[2] == 3


def test_a_rejection_line_names_only_harmless_ids(clock):
    rejections = RejectionLog(clock, timedelta(seconds=10))
    with capture_logs() as logs:
        for i, sample in enumerate(["sub 1 reason=accepted", "x" * 65, "0f3c6b2e-1a2b-4c3d-9e8f-0123456789ab"]):
            clock.set(clock.now() + timedelta(seconds=10 * i))
            rejections.note("microsoft", Reason.forbidden, sample_id=sample)
    assert [e.get("sample_id") for e in logs] == [None, None, "0f3c6b2e-1a2b-4c3d-9e8f-0123456789ab"]


# -- the rest of the service is not held up ----------------------------------------------------------


def _hostile_bodies() -> list[tuple[str, object, dict]]:
    return [
        ("/webhooks/microsoft", Junk(HUGE), {}),  # chunked 10 MB
        ("/webhooks/google", Junk(HUGE), {"Content-Length": str(HUGE)}),
        ("/webhooks/microsoft", forged(2000), {}),
        ("/webhooks/microsoft", forged(1000), {}),
        ("/webhooks/microsoft/lifecycle", forged(1000), {}),
        ("/webhooks/microsoft", b'{"value": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", {}),
    ]


async def test_hostile_deliveries_do_not_delay_an_ordinary_request(client, factory):
    o = await factory.org()
    jobs = [asyncio.ensure_future(post(client, p, c, h)) for _ in range(2) for p, c, h in _hostile_bodies()]
    try:
        await asyncio.sleep(0)  # every hostile request has started
        started = time.perf_counter()
        r = await asyncio.wait_for(client.get("/v1/pairs", headers=o.h["manager"]), 10)
        waited = time.perf_counter() - started
        assert r.status_code == 200 and waited < FAST, (r.status_code, waited)
        answers = await asyncio.wait_for(asyncio.gather(*jobs), 10)
    finally:
        for job in jobs:
            job.cancel()
    assert sorted({r.status_code for r, _ in answers}) == [202, 413]  # unknown subscriptions: acknowledged
    assert max(elapsed for _, elapsed in answers) < 2 * FAST


# -- over the wire: uvicorn on loopback --------------------------------------------------------------


def _raw_post(port: int, path: str, *, total: int, chunked: bool) -> tuple[bytes, float, int]:
    """POST `total` junk bytes over a socket, declared or chunked, until the server
    answers; returns the answer's head, the seconds it took and the bytes sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
        started = time.perf_counter()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode()
        )
        piece, sent = b"[" * (64 * 1024), 0
        sock.settimeout(2)
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server answered and hung up, or stopped reading: the answer waits
        sock.settimeout(5)
        answer = sock.recv(4096)
        return answer, time.perf_counter() - started, sent


async def test_over_the_wire_a_body_over_the_cap_is_413(settings, clock):
    with LoopbackServer(create_app(settings, clock=clock), lifespan="on", name="webhooks") as server:
        for chunked in (False, True):
            for path in PATHS:
                answer, elapsed, sent = await asyncio.to_thread(
                    _raw_post, server.port, path, total=HUGE, chunked=chunked
                )
                assert answer.startswith(b"HTTP/1.1 413 "), (path, chunked, answer[:200])
                assert elapsed < FAST and sent < HUGE, (path, chunked, elapsed, sent)


async def test_over_the_wire_hostile_deliveries_do_not_delay_requests(settings, clock, factory):
    o = await factory.org()
    with LoopbackServer(create_app(settings, clock=clock), lifespan="on", name="webhooks") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
            raw = [
                asyncio.to_thread(_raw_post, server.port, PATHS[i % 3], total=HUGE, chunked=bool(i % 2))
                for i in range(6)
            ]
            batches = [post(api, GRAPH_PATHS[i % 2], forged(1000)) for i in range(6)]
            jobs = [asyncio.ensure_future(j) for j in (*raw, *batches)]
            try:
                await asyncio.sleep(0.01)
                started = time.perf_counter()
                r = await asyncio.wait_for(api.get("/v1/pairs", headers=o.h["manager"]), 10)
                waited = time.perf_counter() - started
                assert r.status_code == 200 and waited < FAST, (r.status_code, waited)
                done = await asyncio.wait_for(asyncio.gather(*jobs), 15)
            finally:
                for job in jobs:
                    job.cancel()
        assert all(answer.startswith(b"HTTP/1.1 413 ") for answer, _, _ in done[:6])
        assert all(r.status_code == 202 for r, _ in done[6:])  # unknown subscriptions: acknowledged


async def test_a_sender_hanging_up_mid_body_costs_no_traceback(settings, clock):
    before = _counted("google", "invalid"), _counted("microsoft", "invalid")
    with (
        LoopbackServer(create_app(settings, clock=clock), lifespan="on", name="webhooks") as server,
        capture_logs() as logs,
    ):
        for path in PATHS:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n{{}}".encode())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
            _counted("google", "invalid") - before[0],
            _counted("microsoft", "invalid") - before[1],
        ) != (1, 2):
            await asyncio.sleep(0.01)
    assert (_counted("google", "invalid") - before[0], _counted("microsoft", "invalid") - before[1]) == (1, 2)
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], logs
