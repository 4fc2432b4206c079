"""Microsoft Graph: adapter (the port), auth (MSAL tokens, connect flow), http
(retries, errors), normalize (events -> EventSnapshot), windows_zones."""
