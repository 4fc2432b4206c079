"""The webhook endpoints API: admins only; the secret is shown once and stored
encrypted; URLs and event types are validated; rotation keeps the old secret for the
grace period; re-enabling resumes; the delivery log pages; redelivery."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from service.api.app import create_app
from service.db.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from service.domain import outbox
from service.domain.webhook_endpoints import signing_secrets
from service.security.crypto import Vault, generate_key

URL = "https://hooks.example.com/in"


@pytest.fixture
async def key() -> str:
    return generate_key()


@pytest.fixture
async def client(settings, engine, sessions, clock, key):
    app = create_app(settings.model_copy(update={"secret_key": SecretStr(key)}), engine=engine, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
async def admin(factory):
    return await factory.token(await factory.person(role="admin"))


async def create(client, admin, **body):
    r = await client.post(
        "/v1/webhook-endpoints", json={"url": URL, "event_types": ["finding.opened"], **body}, headers=admin
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_shows_the_secret_once_and_stores_it_encrypted(client, admin, sessions, key):
    made = await create(client, admin, description="ops board", event_types=["meeting.cancelled", "finding.opened"])
    assert made["secret"].startswith("whsec_") and made["enabled"] is True
    assert made["event_types"] == ["finding.opened", "meeting.cancelled"]  # in the documented order
    got = (await client.get(f"/v1/webhook-endpoints/{made['id']}", headers=admin)).json()
    assert "secret" not in got and got["description"] == "ops board"
    async with sessions() as s:
        row = await s.get(WebhookEndpoint, made["id"])
    assert made["secret"] not in row.secret_encrypted
    assert Vault(key).decrypt(row.secret_encrypted) == made["secret"]


async def test_only_admins(client, factory, admin):
    made = await create(client, admin)
    member = await factory.token(await factory.person())
    for method, path in (
        ("GET", "/v1/webhook-endpoints"),
        ("GET", f"/v1/webhook-endpoints/{made['id']}"),
        ("POST", f"/v1/webhook-endpoints/{made['id']}/rotate-secret"),
        ("DELETE", f"/v1/webhook-endpoints/{made['id']}"),
    ):
        r = await client.request(method, path, headers=member)
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json", (method, path)
    assert (
        await client.post("/v1/webhook-endpoints", json={"url": URL, "event_types": ["finding.opened"]})
    ).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://hooks.example.com/in"}, "url"),
        ({"url": "https://127.0.0.1/in"}, "url"),
        ({"url": "https://[::ffff:169.254.169.254]/in"}, "url"),
        ({"url": "https://10.0.0.8/in"}, "url"),
        ({"event_types": ["finding.created"]}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
async def test_invalid_input_is_a_422_naming_the_field(client, admin, body, field):
    r = await client.post(
        "/v1/webhook-endpoints", json={"url": URL, "event_types": ["finding.opened"], **body}, headers=admin
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in str(r.json()["errors"])


async def test_list_pages_by_id(client, admin):
    ids = [(await create(client, admin))["id"] for _ in range(3)]
    first = (await client.get("/v1/webhook-endpoints?limit=2", headers=admin)).json()
    assert [e["id"] for e in first["items"]] == ids[:2]
    rest = (await client.get(f"/v1/webhook-endpoints?limit=2&cursor={first['next_cursor']}", headers=admin)).json()
    assert [e["id"] for e in rest["items"]] == ids[2:] and rest["next_cursor"] is None


async def test_rotation_keeps_the_old_secret_for_the_grace_period(client, admin, sessions, clock, key):
    made = await create(client, admin)
    r = await client.post(f"/v1/webhook-endpoints/{made['id']}/rotate-secret", headers=admin)
    assert r.status_code == 200
    new = r.json()
    assert new["secret"] != made["secret"]
    async with sessions() as s:
        row = await s.get(WebhookEndpoint, made["id"])
    vault = Vault(key)
    assert signing_secrets(row, vault, clock.now()) == [new["secret"], made["secret"]]
    assert signing_secrets(row, vault, clock.now() + timedelta(hours=24)) == [new["secret"]]


async def test_patch_disables_and_reenables(client, admin, sessions, clock):
    made = await create(client, admin)
    path = f"/v1/webhook-endpoints/{made['id']}"
    off = (await client.patch(path, json={"enabled": False}, headers=admin)).json()
    assert off["enabled"] is False and off["disabled_reason"] == "disabled by an admin"
    assert (await client.patch(path, json={"url": "https://127.0.0.1/"}, headers=admin)).status_code == 422
    assert (await client.patch(path, json={"url": None}, headers=admin)).status_code == 422
    on = (await client.patch(path, json={"enabled": True, "description": "back"}, headers=admin)).json()
    assert on["enabled"] is True and on["disabled_reason"] is None and on["description"] == "back"
    assert (await client.delete(path, headers=admin)).status_code == 204
    assert (await client.get(path, headers=admin)).status_code == 404


async def test_redeliver_and_the_empty_log(client, admin, sessions, clock):
    made = await create(client, admin)
    path = f"/v1/webhook-endpoints/{made['id']}"
    assert (await client.get(f"{path}/attempts", headers=admin)).json() == {"items": [], "next_cursor": None}
    async with sessions() as s:
        await outbox.record(s, [outbox.Event(outbox.EventType.meeting_upcoming, 7, {"meeting_id": 1})], clock.now())
        await s.commit()
        event = await s.scalar(select(OutboxEvent))
    r = await client.post(f"{path}/events/{event.event_id}/redeliver", headers=admin)
    assert r.status_code == 202, r.text
    async with sessions() as s:
        delivery = await s.scalar(select(WebhookDelivery))
    assert (delivery.endpoint_id, delivery.event_id, delivery.state) == (made["id"], event.id, "pending")
    missing = await client.post(f"{path}/events/evt_{'0' * 26}/redeliver", headers=admin)
    assert missing.status_code == 404
    assert (await client.post(f"{path}/events/nope/redeliver", headers=admin)).status_code == 422
