"""The calendar truth engine's I/O half: the provider port and its adapters,
workers that claim calendars with leases, the reconciler, push channels and
the webhooks that request syncs."""
