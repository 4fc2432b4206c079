"""Google Calendar v3: adapter (the port), auth (credentials, connect flow), http
(retries, errors), normalize (events -> EventSnapshot)."""
