"""Delivering the outbox's events to webhook endpoints (signed, leased, retried)."""
