"""One settings root (pydantic-settings): `ONEONONE_*` env vars and a `.env` file.

Every field has a description: `.env.example` is generated from them (`make env-example`,
i.e. `python -m service.settings`), and a test fails when it drifts from this model."""

from __future__ import annotations

import textwrap
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class GoogleSettings(BaseModel):
    client_id: str = Field("", description="OAuth client id of the Google web app people connect their calendar with.")
    client_secret: SecretStr = Field(SecretStr(""), description="That OAuth client's secret.")
    service_account_file: str = Field(
        "",
        description="Path to a service account's JSON key with domain-wide delegation, for org-wide access "
        "(`oneonone calendars connect-all --provider google`).",
    )
    api_endpoint: str = Field("", description="Google Calendar API address instead of Google's (the sandbox fakes).")
    directory_endpoint: str = Field(
        "", description="Admin SDK (directory) address instead of Google's (the sandbox fakes)."
    )
    token_uri: str = Field("https://oauth2.googleapis.com/token", description="OAuth token endpoint.")
    auth_uri: str = Field(
        "https://accounts.google.com/o/oauth2/v2/auth", description="OAuth consent screen (the sandbox: the fake's)."
    )


class MicrosoftSettings(BaseModel):
    tenant_id: str = Field(
        "common",
        description="Entra tenant of the web app people connect their calendar with (`common`: any organisation); "
        "org-wide grants name their own tenant.",
    )
    client_id: str = Field("", description="Application (client) id of the Entra app.")
    client_secret: SecretStr = Field(SecretStr(""), description="That app's client secret.")
    authority_host: str = Field(
        "https://login.microsoftonline.com", description="Entra sign-in host (the sandbox: the fake's)."
    )
    graph_endpoint: str = Field(
        "https://graph.microsoft.com/v1.0", description="Microsoft Graph root (the sandbox: the fake's)."
    )


class QuotaSettings(BaseModel):
    """Provider calls per minute all workers may make together (service.sync.budget):
    below the providers' default quotas (Google Calendar: 10,000 a minute per project,
    600 per user; Graph: 10,000 per 10 minutes per mailbox), so an onboarding paces itself."""

    enabled: bool = Field(True, description="Pace provider calls with the shared budget below.")
    google_per_minute: float = Field(6000, gt=0, description="Google Calendar calls a minute, all users together.")
    google_user_per_minute: float = Field(300, gt=0, description="Google Calendar calls a minute for one user.")
    microsoft_per_minute: float = Field(30000, gt=0, description="Graph calls a minute, all mailboxes together.")
    microsoft_user_per_minute: float = Field(600, gt=0, description="Graph calls a minute for one mailbox.")
    batch: int = Field(10, ge=1, description="Calls a process takes from the shared budget at once.")
    max_wait_seconds: float = Field(
        30, ge=0, description="Longest wait for the budget; past it the calendar backs off instead."
    )


class SyncSettings(BaseModel):
    lookback_days: int = Field(120, ge=1, description="A calendar's first full sync starts this many days back.")
    lookahead_days: int = Field(400, ge=14, description="Graph's delta window reaches this many days ahead.")
    rebaseline_days: int = Field(
        180, ge=1, description="Graph: take the fixed window again this often (it still reaches ≥ 220 days ahead)."
    )
    poll_minutes: float = Field(15, gt=0, description="Sync a calendar anyway after this long without a notification.")
    lease_seconds: float = Field(120, gt=0, description="A crashed worker's claim on a calendar expires after this.")
    batch_size: int = Field(10, ge=1, description="Calendars a worker claims per round.")
    concurrency: int = Field(
        16, ge=1, description="Calendars one worker syncs at once (PostgreSQL; an embedded SQLite worker syncs one)."
    )
    google_channel_ttl_hours: int = Field(168, ge=1, description="Lifetime asked for Google watch channels.")
    graph_subscription_minutes: int = Field(
        4230, ge=45, description="Lifetime asked for Graph subscriptions (4230: Graph's maximum for events)."
    )
    max_backoff_seconds: float = Field(
        3600, gt=0, description="Longest wait before retrying a calendar whose syncs keep failing."
    )
    history_cache_revisions: int = Field(
        200_000,
        ge=0,
        description="Calendar revisions a worker keeps parsed for the detector (about 1.3 KB each); 0: none.",
    )
    quota: QuotaSettings = QuotaSettings()


class WebhookSettings(BaseModel):
    """Caps on what the unauthenticated webhooks accept (larger: 413, unread)."""

    # Graph posts at most a few hundred notifications at once, and a basic event
    # notification is about 1 KB (983 bytes with a 152-character event id): 1 MiB holds
    # 1,000 of them, several times the largest real batch. Google's notifications have no
    # body at all. Parsing costs at most about 10 ms per body under this cap.
    max_body_bytes: int = Field(1 << 20, ge=4096, description="Largest webhook body read; a larger one is a 413.")
    # Notifications per Graph delivery. Verified with one SELECT … IN of the batch's ids,
    # so it stays well below SQLite's 32,766 bound parameters.
    max_items: int = Field(
        1000, ge=1, le=10_000, description="Most notifications in one Graph delivery; more is a 413."
    )
    log_interval_seconds: float = Field(
        10, gt=0, description="Log one line per (provider, reason) of rejected notifications per this interval."
    )


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class CorsSettings(BaseModel):
    """Browsers on these origins may call the API (service.api.app). None by default:
    no CORS headers at all. Credentials are not allowed: callers send bearer tokens,
    never cookies."""

    # e.g. ONEONONE_CORS__ALLOW_ORIGINS=https://app.example.com,http://localhost:5173 ("*": any)
    allow_origins: Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)] = Field(
        [],
        description='Origins whose browsers may call the API, comma-separated (e.g. "https://app.example.com"); '
        '"*": any; empty: no CORS headers.',
    )
    max_age: int = Field(600, ge=0, description="Seconds a browser may cache a preflight's answer.")


class WorkerSettings(BaseModel):
    """`oneonone worker`'s HTTP listener: /healthz, /readyz, /metrics."""

    http_host: str = Field(
        "127.0.0.1",
        description="Address the worker's /healthz, /readyz and /metrics listen on (a container: 0.0.0.0, "
        "for the orchestrator's probes and Prometheus).",
    )
    http_port: int = Field(
        9100, ge=0, le=65535, description="Port of the worker's health and metrics listener; 0: none."
    )


class OIDCSettings(BaseModel):
    issuer: str = Field("", description="OIDC issuer whose JWTs are accepted as bearer tokens (with `audience`).")
    audience: str = Field("", description="The `aud` those JWTs must carry.")
    jwks_url: str = Field("", description="JWKS address; empty: the one in the issuer's discovery document.")
    email_claim: str = Field("email", description="The JWT claim that holds the person's email address.")


class APISettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address `oneonone serve` listens on (a container: 0.0.0.0).")
    port: int = Field(
        8000, ge=1, le=65535, description="Port `oneonone serve` listens on, and `oneonone healthcheck` probes."
    )


class OutboundWebhookSettings(BaseModel):
    """Signed webhooks this service sends (service.outbound): delivery, retries, safety."""

    enabled: bool = Field(True, description="Workers deliver outbound webhooks (events are recorded either way).")
    allow_networks: Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)] = Field(
        default_factory=list,
        description="CIDR blocks deliveries may reach although private, loopback or otherwise "
        "not public (e.g. 127.0.0.0/8 for a receiver on this machine); empty: public addresses only.",
    )
    allow_http_loopback: bool = Field(
        False, description="Accept http:// endpoint URLs whose host is loopback (development); else https only."
    )
    upcoming_lead_hours: float = Field(
        24, gt=0, le=24 * 14, description="`meeting.upcoming` is sent this long before a scheduled 1:1 starts."
    )
    retry_window_hours: float = Field(
        24, gt=0, description="An endpoint failing for this long is disabled (with a reason) until re-enabled."
    )
    first_retry_seconds: float = Field(
        5, gt=0, description="The first retry's delay; each further one doubles it (with jitter)."
    )
    max_retry_seconds: float = Field(3600, gt=0, description="The longest delay between two attempts.")
    secret_grace_hours: float = Field(
        24, ge=0, description="After a secret rotation, the old secret is still signed with for this long."
    )
    retention_days: float = Field(30, gt=0, description="Events and delivery attempts older than this are deleted.")
    lease_seconds: float = Field(
        60, gt=10, description="A delivery claimed by a worker that crashed is retried by another after this."
    )
    batch_size: int = Field(20, ge=1, le=500, description="Deliveries one worker has in flight at once.")
    idle_seconds: float = Field(0.5, gt=0, description="How often an idle worker looks for events to deliver.")
    connect_timeout_seconds: float = Field(2, gt=0, description="Connecting to an endpoint gives up after this.")
    timeout_seconds: float = Field(
        10, gt=0, description="A whole delivery (connect, send, answer) gives up after this."
    )
    max_response_bytes: int = Field(
        65536, ge=1024, description="At most this much of an endpoint's answer is read; the rest is dropped."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ONEONONE_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = Field(
        "sqlite+aiosqlite:///./oneonone.db",
        description="The database: sqlite+aiosqlite:///PATH (embedded, one machine) or "
        "postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB (production).",
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated Fernet keys (`oneonone keygen`): the first encrypts stored provider "
        "credentials, all decrypt (rotation). Workers refuse to start without one.",
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8000",
        description="This service's address as providers and browsers reach it (webhooks, OAuth callbacks).",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(False, description="Log one JSON object per line.")
    db_pool_size: int = Field(
        32,
        ge=1,
        description="Database connections per process, at most: one per concurrent request, so 32 concurrent "
        "requests to one API process never wait for a connection.",
    )
    auth_cache_seconds: float = Field(
        10,
        ge=0,
        description="Seconds an API token is trusted without a database look-up (revocation takes this long); "
        "0: no cache.",
    )

    api: APISettings = APISettings()
    sync: SyncSettings = SyncSettings()
    google: GoogleSettings = GoogleSettings()
    microsoft: MicrosoftSettings = MicrosoftSettings()
    oidc: OIDCSettings = OIDCSettings()
    webhooks: WebhookSettings = WebhookSettings()
    worker: WorkerSettings = WorkerSettings()
    cors: CorsSettings = CorsSettings()
    outbound: OutboundWebhookSettings = Field(
        default_factory=OutboundWebhookSettings, description="Signed outbound webhooks (events sent to endpoints)."
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()


# -- .env.example ----------------------------------------------------------------------------------
ENV_EXAMPLE_HEADER = """\
# Every oneonone setting, with its default: copy this file to .env and uncomment what you change.
# The service reads ONEONONE_* environment variables and a .env file in its working directory;
# `docker compose` passes .env to every container. Nested settings use a double underscore.
# Generated from service/settings.py by `make env-example`; a test fails when the two differ.
"""


def env_example() -> str:
    """The text of `.env.example`: each setting's description, then its variable commented
    out with its default."""
    lines = [ENV_EXAMPLE_HEADER.rstrip("\n")]
    _describe(Settings, Settings.model_config["env_prefix"], lines)
    return "\n".join(lines) + "\n"


def _describe(model: type[BaseModel], prefix: str, lines: list[str]) -> None:
    nested = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            nested.append((name, field.annotation))
            continue
        if not field.description:
            raise ValueError(f"{model.__name__}.{name} has no description (Field(description=...))")
        lines.append("")
        lines.extend(textwrap.wrap(field.description, 98, initial_indent="# ", subsequent_indent="# "))
        lines.append(f"# {prefix}{name.upper()}={_env_value(field.get_default(call_default_factory=True))}")
    for name, sub in nested:
        group = f"{prefix}{name.upper()}__"
        lines += ["", "", f"# ---- {group}*"]
        lines.extend(
            textwrap.wrap(" ".join((sub.__doc__ or "").split()), 98, initial_indent="# ", subsequent_indent="# ")
        )
        _describe(sub, group, lines)


def _env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):  # the comma-separated form list settings read (CorsSettings)
        return ",".join(map(str, value))
    return str(value)


if __name__ == "__main__":
    print(env_example(), end="")
