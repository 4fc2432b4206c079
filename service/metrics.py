"""Prometheus metrics (served at /metrics by the API and by `oneonone worker`).

Every label takes values from a closed set (route templates, providers, finding
types, error classes, reasons), never from what a caller sends, so the number of
series stays bounded. Each process exports its own; sum them across processes."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# -- HTTP (service.api.observability) --------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "oneonone_http_requests_total", "HTTP requests answered, by route template", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "oneonone_http_request_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# -- webhooks (service.sync.webhooks, service.api.webhooks) -----------------------------------------
WEBHOOKS = Counter(
    "oneonone_webhook_notifications_total", "Push notifications received", ["provider", "outcome"]
)  # outcome: accepted | ignored | orphaned | rejected (per notification) | validation | invalid (a body refused whole)
WEBHOOK_REJECTIONS = Counter(
    "oneonone_webhook_rejections_total",
    "Push notifications (or whole deliveries) refused, by why",
    ["provider", "reason"],
)  # reason: forbidden | malformed (a notification) | too_large | invalid (a delivery)

# -- sync workers (service.sync.worker, service.sync.grants) -------------------------------------------------------
SYNCS = Counter(
    "oneonone_syncs_total", "Calendar sync increments", ["provider", "outcome"]
)  # outcome: ok | failed (a provider error) | lease_lost | dropped (disconnected meanwhile) | crashed
SYNC_ERRORS = Counter(
    "oneonone_sync_errors_total", "Failed sync increments, by provider error", ["provider", "error"]
)  # error: the ProviderError's class (Throttled, AuthorizationFailed, …)
SYNC_SECONDS = Histogram(
    "oneonone_sync_seconds",
    "Time to sync one calendar increment (fetch and commit)",
    ["provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
EVENTS_CHANGED = Counter(
    "oneonone_events_changed_total", "Events changed or removed by sync increments (revisions stored)", ["provider"]
)
SYNC_LAG = Histogram(
    "oneonone_sync_lag_seconds",
    "At each successful sync of a calendar: the time since its previous successful sync",
    ["provider"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 21600, 86400),
)
LEASES_HELD = Gauge("oneonone_leases_held", "Calendar leases this process holds (a sync or channel upkeep in hand)")
RECOMPUTES_DEFERRED = Counter(
    "oneonone_recomputes_deferred_total",
    "Recomputes after a committed sync that failed; their pairs are due and the periodic pass redoes them",
)
SHARED_TOKENS = Counter(
    "oneonone_shared_tokens_total", "Access tokens asked of, or given to, the workers' shared cache", ["outcome"]
)  # outcome (service.sync.grants.SharedTokens): hit | miss (absent, expired, unreadable) | stored | failed

# -- detection (service.domain.recompute) -----------------------------------------------------------------
FINDINGS_OPENED = Counter("oneonone_findings_opened_total", "Findings opened (new, or true again)", ["type"])
FINDINGS_RESOLVED = Counter("oneonone_findings_resolved_total", "Findings resolved (no longer true)", ["type"])
HISTORY_READ = Counter(
    "oneonone_history_revisions_read_total", "Event revisions a worker's detector read and parsed", ["reason"]
)  # reason: new (committed since its calendar was cached) | uncached (its calendar was not: first use, or dropped)
HISTORY_CACHED = Gauge("oneonone_history_cache_revisions", "Event revisions a worker's history cache keeps parsed")
