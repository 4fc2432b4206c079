"""`oneonone demo`: the bundled scenario replayed through the real sync path into the
service's database, content on top, idempotent, with a working token."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from service import demo
from service.db.models import AgendaItem, ApiToken, Calendar, Finding, Meeting, Person
from service.domain.detection import to_replay_json
from service.replay.harness import Harness
from service.replay.validate import instant, load
from tests.replay.scoring import checker, database_url


async def _count(session, model) -> int:
    return await session.scalar(select(func.count()).select_from(model))


async def test_demo_replays_the_bundled_scenario_once_and_prints_a_working_token(sessions, client, clock):
    scenario = load(demo.SCENARIO)
    async with sessions() as s:
        first = await demo.load(s, clock.now())
        await s.commit()
    async with sessions() as s:
        counts = [await _count(s, m) for m in (Person, Meeting, AgendaItem, Finding)]
        second = await demo.load(s, clock.now())
        await s.commit()
    async with sessions() as s:
        assert [await _count(s, m) for m in (Person, Meeting, AgendaItem, Finding)] == counts
        revoked = await s.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_not(None)))
        statuses = set((await s.scalars(select(Calendar.status))).all())
    assert first.created and not second.created and revoked == 1
    assert counts[0] == len(scenario["org"]["people"]) == 8
    assert first.findings == second.findings == len(scenario["expect"]["findings"])
    assert first.as_of == instant(scenario["now"], "now")
    assert statuses == {"disabled"}  # the fake provider is gone: nothing to sync

    clock.set(first.as_of)
    h = {"Authorization": f"Bearer {second.token}"}
    assert (await client.get("/v1/me", headers=h)).json()["email"] == demo.DEMO_MANAGER
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {first.token}"})).status_code == 401

    # Maya sees her reports' findings, each explained.
    found = (await client.get("/v1/findings", headers=h, params={"limit": 100})).json()["items"]
    assert sorted(f["type"] for f in found) == [
        "cadence_gap",
        "cancelled_without_reschedule",
        "double_booked",
        "double_booked",
        "late_reschedule",
        "shortened",
    ]
    assert all(f["details"]["evidence"] for f in found)

    pairs = (await client.get("/v1/pairs", headers=h, params={"role": "manager"})).json()["items"]
    assert len(pairs) == 3
    li = pairs[0]
    assert (li["cadence"], li["interval_days"], li["days_since_last_held"]) == ("weekly", 7, 4)
    assert li["current_streak"] == 13  # every Monday since 24 August (one moved, none missed)
    upcoming = (
        await client.get(f"/v1/pairs/{li['id']}/meetings", headers=h, params={"from": first.as_of.isoformat()})
    ).json()["items"]
    detail = (await client.get(f"/v1/meetings/{upcoming[0]['id']}", headers=h)).json()
    # The report's talking points come first; the manager sees their own private point.
    assert detail["agenda"][0]["author_id"] == li["report_id"]
    assert any(item["private"] for item in detail["agenda"])
    assert detail["open_action_items"]


async def test_the_demo_scenario_replays_to_its_expectations(db_url):
    """What the story plants is what the detector finds (pairs and findings)."""
    scenario = load(demo.SCENARIO)
    backend = "sqlite" if db_url.startswith("sqlite") else "postgres"
    async with Harness(scenario, database_url=database_url(backend)) as harness:
        detection = await harness.run()
    result = checker().score(scenario["expect"], to_replay_json(detection, harness.now))
    assert (result["f_fp"], result["f_fn"]) == (0, 0), (result["missed"], result["extra"])
    assert result["p_ok"] == result["p_total"] == 7
    json.dumps(scenario)  # the bundled file is plain JSON


def test_oneonone_demo_prints_the_token_alone_on_stdout_and_logs_on_stderr(tmp_path):
    """`TOKEN=$(oneonone demo)` captures a working token and nothing else."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEONONE_")}
    env |= {"ONEONONE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", "ONEONONE_LOG_LEVEL": "INFO"}

    def oneonone(*argv: str) -> subprocess.CompletedProcess:
        run = subprocess.run(
            [sys.executable, "-m", "service.cli", *argv], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        return run

    assert oneonone("migrate").stdout == ""
    run = oneonone("demo")
    (token,) = run.stdout.splitlines()
    assert token.startswith("oo_") and run.stdout == token + "\n"
    assert "loaded demo data" in run.stderr and token not in run.stderr
