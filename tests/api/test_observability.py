"""service.api.observability: the request id (taken if sane, else made; echoed on
every response, a 500 included; on every log line of the request), the access log
(route template, status, duration; no query string, no credentials), HTTP metrics
by route template, and a 500 that logs no token material."""

from __future__ import annotations

import hashlib
import json
import logging

import httpx
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

import service.logging
from service.api.app import create_app
from service.db.engine import create_engine
from service.security.tokens import new_token
from service.settings import Settings
from tests.api.test_errors_and_health import assert_problem


@pytest.fixture
def json_logs(capsys):
    """Logging configured as `ONEONONE_LOG_JSON=true` configures it; returns a function
    giving the JSON lines written to stderr so far. Restores the previous set-up."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    service.logging.configure("INFO", json=True)
    capsys.readouterr()

    def lines() -> list[dict]:
        err = capsys.readouterr().err
        parsed = [json.loads(line) for line in err.splitlines() if line.strip()]
        return [line for line in parsed if line.get("logger") != "httpx"]  # the test client's own

    yield lines
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def _samples(r: httpx.Response) -> dict[tuple[str, frozenset], float]:
    assert r.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


# -- request id -----------------------------------------------------------------------------------------------
async def test_a_sane_request_id_is_kept_and_anything_else_replaced(client):
    r = await client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.2:x_9"})
    assert r.headers["x-request-id"] == "lb-7f3a.2:x_9"
    made = set()
    for bad in ("", "a" * 129, "has space", "semi;colon", "é", '"}{"request_id'):
        r = await client.get("/healthz", headers={"X-Request-ID": bad.encode()})
        made.add(r.headers["x-request-id"])
        assert len(r.headers["x-request-id"]) == 32 and r.headers["x-request-id"] != bad
    r = await client.get("/healthz")
    made.add(r.headers["x-request-id"])
    assert len(made) == 7  # a new one each time


async def test_the_access_line_has_the_request_id_route_status_and_no_secrets(client, factory, json_logs):
    headers = await factory.token(await factory.person())
    secret = headers["Authorization"].removeprefix("Bearer ")
    r = await client.get("/v1/meetings/4242?code=OAUTH-CODE-SECRET", headers={**headers, "X-Request-ID": "trace-me-1"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "trace-me-1"
    lines = json_logs()
    [access] = [line for line in lines if line["event"] == "request"]
    assert access["request_id"] == "trace-me-1"
    assert (access["method"], access["route"], access["status"]) == ("GET", "/v1/meetings/{meeting_id}", 404)
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert all(line.get("request_id") == "trace-me-1" for line in lines)  # every line of the request
    text = json.dumps(lines)
    assert "OAUTH-CODE-SECRET" not in text and "4242" not in text
    assert secret not in text and hashlib.sha256(secret.encode()).hexdigest() not in text


# -- a 500 ---------------------------------------------------------------------------------------------------
async def test_a_500_keeps_the_request_id_and_logs_no_token_material(tmp_path, json_logs):
    """An unmigrated database fails the token look-up itself: the statement whose
    parameter is the token's SHA-256."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    engine = create_engine(url)
    app = create_app(Settings(database_url=url, _env_file=None, auth_cache_seconds=0), engine=engine)
    token = new_token()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            r = await c.get("/v1/me", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "boom-1"})
            generated = await c.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    finally:
        await engine.dispose()
    assert_problem(r, 500, "internal")
    assert r.headers["x-request-id"] == "boom-1"
    assert_problem(generated, 500, "internal")
    rid = generated.headers["x-request-id"]
    lines = json_logs()
    errors = [line for line in lines if line["event"] == "unhandled_error"]
    assert [e["request_id"] for e in errors] == ["boom-1", rid]
    assert all(e["route"] == "/v1/me" and "OperationalError" in e["exception"] for e in errors)
    access = [(line["request_id"], line["status"]) for line in lines if line["event"] == "request"]
    assert access == [("boom-1", 500), (rid, 500)]
    text = json.dumps(lines)
    assert "no such table" in text  # the traceback is there…
    assert token not in text and hashlib.sha256(token.encode()).hexdigest() not in text  # …the token is not
    assert "[parameters:" not in text


# -- metrics -----------------------------------------------------------------------------------------------------
async def test_http_metrics_label_routes_by_template_not_by_path(client, factory):
    headers = await factory.token(await factory.person())
    before = _samples(await client.get("/metrics"))
    for meeting_id in (101, 102, 103):
        assert (await client.get(f"/v1/meetings/{meeting_id}", headers=headers)).status_code == 404
    for junk in ("/wp-admin", "/v1/nothing/../etc/passwd", "/x?y=1"):
        assert (await client.get(junk)).status_code == 404
    after = _samples(await client.get("/metrics"))
    grew = {key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key, 0.0)}
    counted = {
        (dict(labels)["route"], dict(labels)["status"]): n
        for (name, labels), n in grew.items()
        if name == "oneonone_http_requests_total"
    }
    # The first /metrics scrape is counted by the second.
    assert counted == {("/v1/meetings/{meeting_id}", "404"): 3, ("<unmatched>", "404"): 3, ("/metrics", "200"): 1}
    timed = (
        "oneonone_http_request_seconds_count",
        frozenset({"method": "GET", "route": "/v1/meetings/{meeting_id}"}.items()),
    )
    assert grew[timed] == 3
    values = {value for (_name, labels) in after for (_key, value) in labels}
    assert not any(raw in value for value in values for raw in ("101", "wp-admin", "passwd"))
