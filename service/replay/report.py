"""The readable replay report (without --json), and --explain's evidence."""

from __future__ import annotations

from collections import Counter
from typing import Any

from service.domain.detection import DetectedFinding, Detection
from service.domain.detection.document import finding_json


def render(document: dict[str, Any], detection: Detection, *, explain: bool) -> str:
    lines = [f"oneonone replay at {document['now']}", "", "Pairs:"]
    for p in document["pairs"]:
        interval = f"every {p['interval_days']} d" if p["interval_days"] is not None else "no interval"
        lines.append(
            f"  {p['manager']} → {p['report']}: {p['cadence']} ({interval}); "
            f"last held {p['last_held'] or '—'}, next {p['next_scheduled'] or '—'}"
        )
    statuses = Counter(m["status"] for m in document["meetings"])
    lines += [
        "",
        "Meetings (last 90 days, next 14): "
        + (", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "none"),
    ]
    lines += ["", f"Findings ({len(document['findings'])}):"]
    evidence = {_identity(finding_json(f)): f for f in detection.findings}
    for f in document["findings"]:
        fields = ", ".join(f"{k}={v}" for k, v in f.items() if k not in ("type", "manager", "report"))
        lines.append(f"  {f['type']}: {f['manager']} / {f['report']} ({fields})")
        found: DetectedFinding | None = evidence.get(_identity(f))
        if explain and found is not None:
            lines += [f"      because: {line}" for line in found.evidence] or ["      (no evidence recorded)"]
    if not document["findings"]:
        lines.append("  none")
    return "\n".join(lines)


def _identity(finding: dict[str, Any]) -> tuple:
    # Case-insensitive: the document may carry emails as the scenario spells them.
    return tuple(sorted((k, str(v).lower()) for k, v in finding.items()))


def spelled_as_given(document: dict[str, Any], people: list[dict[str, Any]]) -> dict[str, Any]:
    """Emails as the scenario's org spells them: people are matched case-insensitively
    (and stored lower-cased), but the output names them the way the input did."""
    spelling = {p["email"].lower(): p["email"] for p in people}
    for section in ("pairs", "meetings", "findings"):
        for item in document[section]:
            for role in ("manager", "report"):
                item[role] = spelling.get(item[role], item[role])
    return document


def explain_json(document: dict[str, Any], detection: Detection) -> dict[str, Any]:
    """--json --explain: each finding carries its `evidence` lines (extra fields are ignored by scoring)."""
    evidence = {_identity(finding_json(f)): list(f.evidence) for f in detection.findings}
    for f in document["findings"]:
        f["evidence"] = evidence.get(_identity(f), [])
    return document
