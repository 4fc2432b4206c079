"""Loading `oneonone-scenario/1` files and feeding their timelines to the fake
provider stores. Only the fakes read scenarios: the service learns about the
calendars through the provider APIs, like in production."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from service.sandbox.errors import ScenarioError
from service.sandbox.google_store import GoogleStore
from service.sandbox.graph_store import GraphStore
from service.sandbox.timefmt import parse_instant

FORMAT = "oneonone-scenario/1"


@dataclass(frozen=True)
class Scenario:
    name: str
    start: datetime
    now: datetime
    people: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    timeline: list[dict[str, Any]]  # in application order: by `at`, ties in file order
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def people_on(self, provider: str) -> list[dict[str, Any]]:
        return [p for p in self.people if p.get("provider") == provider]


def load_scenario(source: str | Path | dict[str, Any]) -> Scenario:
    data = source if isinstance(source, dict) else json.loads(Path(source).read_text())
    if data.get("format") != FORMAT:
        raise ScenarioError(f"not a {FORMAT} file: {data.get('format')!r}")
    indexed = list(enumerate(data.get("timeline") or []))
    ordered = [op for _, op in sorted(indexed, key=lambda pair: (parse_instant(pair[1]["at"]), pair[0]))]
    for op in ordered:
        if op.get("provider") not in ("google", "microsoft"):
            raise ScenarioError(f"unknown provider in {op!r}")
    return Scenario(
        name=data.get("name", ""),
        start=parse_instant(data["start"]),
        now=parse_instant(data["now"]),
        people=list((data.get("org") or {}).get("people") or []),
        policies=list(data.get("policies") or []),
        timeline=ordered,
        raw=data,
    )


def build_stores(
    scenario: Scenario, *, graph_base_url: str = "https://graph.microsoft.com/v1.0", stub_occurrences: bool = True
) -> tuple[GoogleStore, GraphStore]:
    """Empty stores with every person's calendar (in the person's zone)."""
    google = GoogleStore()
    graph = GraphStore(base_url=graph_base_url, stub_occurrences=stub_occurrences)
    for person in scenario.people:
        zone = person.get("timezone") or "UTC"
        if person.get("provider") == "google":
            google.add_calendar(person["email"], time_zone=zone, summary=person.get("name") or None)
        elif person.get("provider") == "microsoft":
            graph.add_mailbox(person["email"], time_zone=zone)
    return google, graph


def apply_op(google: GoogleStore, graph: GraphStore, op: dict[str, Any]) -> None:
    (google if op["provider"] == "google" else graph).apply(op)
