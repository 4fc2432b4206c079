"""What a replay leaves in the database: the rows the API serves."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from service.db.engine import create_engine, session_factory
from service.db.models import Finding, Meeting
from service.replay.harness import Harness
from service.replay.validate import load
from tests.replay.scoring import PUBLIC


async def test_findings_about_an_occurrence_point_at_its_meeting(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'kept.db'}"
    async with Harness(load(PUBLIC / "02-cancel-no-reschedule.json"), database_url=url, keep=True) as harness:
        await harness.run()
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            meetings = {m.id: m for m in (await session.scalars(select(Meeting))).all()}
            findings = [
                f for f in (await session.scalars(select(Finding))).all() if f.type == "cancelled_without_reschedule"
            ]
    finally:
        await engine.dispose()
    assert findings
    for finding in findings:
        meeting = meetings[finding.meeting_id]
        assert meeting.pair_id == finding.pair_id and meeting.status == "cancelled"
        assert meeting.original_start == datetime.fromisoformat(finding.details["occurrence_start"])
