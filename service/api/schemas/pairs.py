"""Response/request shapes for pairs (a manager and one report)."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import Field

from service.api.schemas.common import In, Out
from service.api.schemas.people import PersonSummary


class PairRole(str, enum.Enum):
    """The caller's role in a pair."""

    manager = "manager"
    report = "report"


class PairOut(Out):
    id: int
    manager_id: int
    report_id: int
    active: bool
    cadence_days: int | None = Field(description="Intended cadence set by the pair")
    cadence: str = Field(description="Detected: none, weekly, biweekly, monthly, irregular")
    interval_days: float | None
    last_held: datetime | None
    next_scheduled: datetime | None
    days_since_last_held: int | None = Field(
        None, description="Whole days from `last_held` to now (the server's clock); null if never held"
    )
    current_streak: int = Field(
        0,
        description="Consecutive held 1:1s up to the last one, counting back until a cancelled or "
        "declined one (0 if the latest was cancelled or declined, or none was held)",
    )
    updated_at: datetime
    manager: PersonSummary
    report: PersonSummary
    last_held_at: datetime | None = Field(None, description="Start of the latest held 1:1 (= `last_held`)")
    next_scheduled_at: datetime | None = Field(
        None, description="Start of the next scheduled 1:1, if any (= `next_scheduled`)"
    )
    streak: int = Field(0, description="= `current_streak`")
    open_findings: dict[str, int] = Field(
        default_factory=dict,
        description='Open (unresolved) findings of the pair by type, e.g. `{"cadence_gap": 1}`; '
        "types without one are left out",
    )


class PairUpdate(In):
    """Only the fields sent change; `cadence_days: null` clears the intended cadence."""

    cadence_days: int | None = Field(None, ge=1, le=365, description="Intended days between 1:1s (1–365)")
