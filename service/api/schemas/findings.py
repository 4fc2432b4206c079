"""Findings as the API shows them (with the pair's manager and report)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from service.api.schemas.common import Out
from service.domain.findings import FindingType

_TYPES = ", ".join(t.value for t in FindingType)


class FindingOut(Out):
    id: int
    pair_id: int
    manager_id: int = Field(description="The pair's manager")
    report_id: int = Field(description="The pair's report")
    meeting_id: int | None = Field(description="The meeting it is about, if any")
    type: str = Field(description=f"One of: {_TYPES}", examples=["cadence_gap"])
    key: str = Field(description="Stable identity across re-detection")
    details: dict[str, Any] = Field(
        description="What the detector found: the key fields (`occurrence_start`, `since`, `by`: manager or "
        "report), informative ones (`start`, `notice_hours`, `minutes`, `reference_minutes`, "
        "`conflict`, `gap_days`, `horizon_days`) and `evidence`, the explanation: the calendar "
        "events and changes behind the finding, one line each",
        examples=[
            {
                "occurrence_start": "2026-02-09T08:00:00+00:00",
                "notice_hours": 20.0,
                "evidence": [
                    "2026-02-08T12:00:00Z: 'Maya / Li 1:1' slot 2026-02-09T08:00:00Z (maya@acme.test, "
                    "event abc_20260209T080000Z, uid abc@google.com) cancelled (instance)",
                    "no other 1:1 of the pair starts in [2026-02-05T20:00:00Z, 2026-02-12T20:00:00Z]",
                ],
            }
        ],
    )
    detected_at: datetime
    resolved_at: datetime | None = Field(description="Set once the finding stopped being true (null: open)")
    acknowledged_by: int | None
    acknowledged_at: datetime | None
