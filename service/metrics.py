"""Prometheus metrics (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOKS = Counter(
    "oneonone_webhook_notifications_total", "Push notifications received", ["provider", "outcome"]
)  # outcome: accepted | ignored | rejected (per notification) | validation | invalid (a body refused whole)
SYNCS = Counter("oneonone_syncs_total", "Calendar sync increments", ["provider", "outcome"])
SYNC_SECONDS = Histogram("oneonone_sync_seconds", "Time to sync one calendar increment", ["provider"])
EVENTS_CHANGED = Counter("oneonone_events_changed_total", "Event revisions stored", ["provider"])
