"""Webhooks verify the channel secret, request a sync of the calendar and answer at once."""

from __future__ import annotations

from tests.sync.sync_factories import calendar, channel, requests


async def _state(sessions, cal_id):
    """(a sync is requested, how many requests): one per accepted delivery."""
    n = await requests(sessions, cal_id)
    return n > 0, n


def _google_headers(channel_id, token, state="exists", number=2):
    return {
        "X-Goog-Channel-ID": channel_id,
        "X-Goog-Channel-Token": token,
        "X-Goog-Resource-State": state,
        "X-Goog-Resource-ID": "res-1",
        "X-Goog-Message-Number": str(number),
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/x/events",
    }


async def test_google_notifications_request_syncs(client, factory, sessions):
    cal = await calendar(factory, await factory.person())
    await channel(factory, cal, "s3cret", channel_id="ch-1")
    r = await client.post("/webhooks/google", headers=_google_headers("ch-1", "s3cret", "sync", 1))
    assert r.status_code == 200 and await _state(sessions, cal.id) == (False, 0)  # handshake only
    for n in (3, 2, 3):  # duplicated and out of order
        assert (
            await client.post("/webhooks/google", headers=_google_headers("ch-1", "s3cret", number=n))
        ).status_code == 200
    assert await _state(sessions, cal.id) == (True, 3)


async def test_google_wrong_token_or_unknown_channel_is_rejected(client, factory, sessions):
    cal = await calendar(factory, await factory.person())
    await channel(factory, cal, "s3cret", channel_id="ch-1")
    for headers in (_google_headers("ch-1", "guess"), _google_headers("ch-9", "s3cret"), {}):
        r = await client.post("/webhooks/google", headers=headers)
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert await _state(sessions, cal.id) == (False, 0)


async def test_google_notification_after_stop_is_acknowledged_and_ignored(client, factory, sessions, clock):
    cal = await calendar(factory, await factory.person())
    await channel(factory, cal, "s3cret", channel_id="ch-1", stopped_at=clock.now())
    assert (await client.post("/webhooks/google", headers=_google_headers("ch-1", "s3cret"))).status_code == 200
    assert await _state(sessions, cal.id) == (False, 0)


async def test_graph_validation_handshake_echoes_token_as_text(client):
    for path in ("/webhooks/microsoft", "/webhooks/microsoft/lifecycle"):
        r = await client.post(path, params={"validationToken": "Validation: Token <&><script>"})
        assert r.status_code == 200 and r.text == "Validation: Token <&><script>"
        assert r.headers["content-type"].startswith("text/plain")
        assert r.headers["x-content-type-options"] == "nosniff"  # never sniffed as HTML
        r = await client.post(path, params={"validationToken": "v" * 5000})  # Graph's are ~110 characters
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")


async def test_graph_notifications_verify_each_client_state(client, factory, sessions):
    cal = await calendar(factory, await factory.person(), provider="microsoft")
    other = await calendar(factory, await factory.person(), provider="microsoft")
    await channel(factory, cal, "state-a", channel_id="sub-a")
    await channel(factory, other, "state-b", channel_id="sub-b")
    note = {"changeType": "updated", "resource": "Users/x/Events/y", "tenantId": "t"}
    body = {
        "value": [
            {**note, "subscriptionId": "sub-a", "clientState": "state-a"},
            {**note, "subscriptionId": "sub-b", "clientState": "forged"},
        ]
    }
    assert (await client.post("/webhooks/microsoft", json=body)).status_code == 202
    assert await _state(sessions, cal.id) == (True, 1)
    assert await _state(sessions, other.id) == (False, 0)
    forged = {"value": [{**note, "subscriptionId": "sub-b", "clientState": "forged"}]}
    assert (await client.post("/webhooks/microsoft", json=forged)).status_code == 403
    assert (await client.post("/webhooks/microsoft", content=b"not json")).status_code == 400
    assert (await client.post("/webhooks/microsoft", json={"value": "x"})).status_code == 400


async def test_graph_lifecycle_events(client, factory, sessions, clock):
    from sqlalchemy import select

    from service.db.models import PushChannel

    cal = await calendar(factory, await factory.person(), provider="microsoft")
    await channel(factory, cal, "st", channel_id="sub-1")
    await channel(factory, cal, "st", channel_id="sub-2")
    for sub, event in (("sub-1", "reauthorizationRequired"), ("sub-2", "subscriptionRemoved")):
        body = {"value": [{"subscriptionId": sub, "clientState": "st", "lifecycleEvent": event}]}
        assert (await client.post("/webhooks/microsoft/lifecycle", json=body)).status_code == 202
    async with sessions() as s:
        rows = {c.channel_id: c for c in (await s.scalars(select(PushChannel))).all()}
    assert rows["sub-1"].reauthorize_requested_at == clock.now() and rows["sub-1"].stopped_at is None
    assert rows["sub-1"].expires_at > clock.now()  # not made to look expired: it lives on at Graph
    assert rows["sub-2"].stopped_at == clock.now()
    assert await _state(sessions, cal.id) == (True, 2)


async def test_google_s_first_sync_message_may_come_before_the_channel_is_recorded(client, factory, sessions):
    """Google sends `sync` while answering events.watch: our row may not be committed yet."""
    cal = await calendar(factory, await factory.person())
    await channel(factory, cal, "s3cret", channel_id="ch-1")
    r = await client.post("/webhooks/google", headers=_google_headers("ch-new", "s3cret-new", "sync", 1))
    assert r.status_code == 200
    for headers in (_google_headers("ch-new", "s3cret-new"), _google_headers("ch-1", "guess", "sync", 1)):
        assert (await client.post("/webhooks/google", headers=headers)).status_code == 403
    assert await _state(sessions, cal.id) == (False, 0)


async def test_unknown_graph_subscriptions_are_acknowledged_and_recorded_if_we_can_delete_them(
    client, factory, sessions, clock
):
    from sqlalchemy import select

    from service.db.models import CalendarConnection, OrphanSubscription

    user_id = "0f3c6b2e-1a2b-4c3d-9e8f-0123456789ab"
    cal = await calendar(factory, await factory.person(), provider="microsoft", provider_user_id=user_id)
    await channel(factory, cal, "state-a", channel_id="sub-a")
    now = clock.now()
    await factory._add(
        CalendarConnection(
            provider="microsoft", kind="org", tenant="tenant-1", scopes="", created_at=now, updated_at=now
        )
    )

    def note(sub: str, user: str, tenant: str, state: str = "s") -> dict:
        return {
            "subscriptionId": sub,
            "clientState": state,
            "changeType": "updated",
            "resource": f"Users/{user}/Events/AAMk1=",
            "tenantId": tenant,
        }

    batches = {
        "sub-mailbox": note("sub-mailbox", user_id.upper(), "elsewhere"),  # a calendar of ours: its grant
        "sub-tenant": note("sub-tenant", "1d2c0000-0000-4000-8000-000000000001", "tenant-1"),  # our org grant
        "sub-stranger": note("sub-stranger", "1d2c0000-0000-4000-8000-000000000002", "tenant-9"),  # no grant
    }
    for body in batches.values():
        assert (await client.post("/webhooks/microsoft", json={"value": [body]})).status_code == 202
    lifecycle = {"value": [{**batches["sub-tenant"], "lifecycleEvent": "missed", "resource": "/users/x/events"}]}
    assert (await client.post("/webhooks/microsoft/lifecycle", json=lifecycle)).status_code == 202
    forged = {"value": [note("sub-a", user_id, "tenant-1", state="guess")]}  # ours, wrong secret
    assert (await client.post("/webhooks/microsoft", json=forged)).status_code == 403
    async with sessions() as s:
        rows = {o.subscription_id: o for o in (await s.scalars(select(OrphanSubscription))).all()}
    assert sorted(rows) == ["sub-mailbox", "sub-tenant"]  # recorded once each
    assert (rows["sub-mailbox"].user, rows["sub-mailbox"].tenant_id) == (user_id, "elsewhere")
    assert rows["sub-tenant"].done_at is None and rows["sub-tenant"].seen_at == now
    assert await _state(sessions, cal.id) == (False, 0)  # nothing of ours was notified


async def test_at_most_max_pending_orphans_wait(client, factory, sessions, clock):
    from sqlalchemy import func, insert, select

    from service.db.models import OrphanSubscription
    from service.sync import orphans

    user_id = "0f3c6b2e-1a2b-4c3d-9e8f-0123456789ab"
    await calendar(factory, await factory.person(), provider="microsoft", provider_user_id=user_id)
    rows = [
        dict(provider="microsoft", subscription_id=f"old-{i}", seen_at=clock.now(), attempts=0)
        for i in range(orphans.MAX_PENDING)
    ]
    async with sessions() as s:
        await s.execute(insert(OrphanSubscription), rows)
        await s.commit()
    body = {"value": [{"subscriptionId": "new", "clientState": "s", "resource": f"Users/{user_id}/Events/x"}]}
    assert (await client.post("/webhooks/microsoft", json=body)).status_code == 202  # acknowledged all the same
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(OrphanSubscription)) == orphans.MAX_PENDING
