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
    details: dict[str, Any]
    detected_at: datetime
    resolved_at: datetime | None = Field(description="Set once the finding stopped being true (null: open)")
    acknowledged_by: int | None
    acknowledged_at: datetime | None
