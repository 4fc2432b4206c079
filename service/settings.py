"""One settings root (pydantic-settings): `ONEONONE_*` env vars and a `.env` file."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GoogleSettings(BaseModel):
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    # Service account JSON (domain-wide delegation) for org-wide access.
    service_account_file: str = ""
    api_endpoint: str = ""  # override for the sandbox fakes
    directory_endpoint: str = ""  # the Admin SDK's root (https://admin.googleapis.com/), for the sandbox fakes
    token_uri: str = "https://oauth2.googleapis.com/token"
    auth_uri: str = "https://accounts.google.com/o/oauth2/v2/auth"  # the consent screen (sandbox: the fake's)


class MicrosoftSettings(BaseModel):
    tenant_id: str = "common"
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    authority_host: str = "https://login.microsoftonline.com"
    graph_endpoint: str = "https://graph.microsoft.com/v1.0"


class QuotaSettings(BaseModel):
    """Provider calls per minute all workers may make together (service.sync.budget):
    below the providers' default quotas (Google Calendar: 10,000 a minute per project,
    600 per user; Graph: 10,000 per 10 minutes per mailbox), so an onboarding paces itself."""

    enabled: bool = True
    google_per_minute: float = Field(6000, gt=0)
    google_user_per_minute: float = Field(300, gt=0)
    microsoft_per_minute: float = Field(30000, gt=0)
    microsoft_user_per_minute: float = Field(600, gt=0)
    batch: int = Field(10, ge=1)  # tokens a process takes from the database at once
    max_wait_seconds: float = Field(30, ge=0)  # longer: the calendar backs off instead


class SyncSettings(BaseModel):
    lookback_days: int = Field(120, ge=1)  # first full sync starts this far back
    lookahead_days: int = Field(400, ge=14)  # Graph delta window reaches this far ahead
    rebaseline_days: int = Field(
        180, ge=1
    )  # Graph: re-take the fixed window this often (it still reaches ≥ 220 days ahead)
    poll_minutes: float = Field(15, gt=0)  # sync anyway after this long without a notification
    lease_seconds: float = Field(120, gt=0)  # a crashed worker's claim expires after this
    batch_size: int = Field(10, ge=1)  # calendars claimed per worker round
    google_channel_ttl_hours: int = Field(168, ge=1)  # ~7 days, Google's default
    graph_subscription_minutes: int = Field(4230, ge=45)  # Graph's maximum for events
    max_backoff_seconds: float = Field(3600, gt=0)
    quota: QuotaSettings = QuotaSettings()


class WebhookSettings(BaseModel):
    """Caps on what the unauthenticated webhooks accept (larger: 413, unread)."""

    # Graph posts at most a few hundred notifications at once, and a basic event
    # notification is about 1 KB (983 bytes with a 152-character event id): 1 MiB holds
    # 1,000 of them, several times the largest real batch. Google's notifications have no
    # body at all. Parsing costs at most about 10 ms per body under this cap.
    max_body_bytes: int = Field(1 << 20, ge=4096)
    # Notifications per Graph delivery. Verified with one SELECT … IN of the batch's ids,
    # so it stays well below SQLite's 32,766 bound parameters.
    max_items: int = Field(1000, ge=1, le=10_000)
    log_interval_seconds: float = Field(10, gt=0)  # one rejection line per (provider, reason) per interval


class OIDCSettings(BaseModel):
    issuer: str = ""
    audience: str = ""
    jwks_url: str = ""  # defaults to the issuer's discovery document
    email_claim: str = "email"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ONEONONE_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./oneonone.db"
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    secret_key: SecretStr = SecretStr("")
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_json: bool = False
    db_pool_size: int = Field(10, ge=1)
    # Seconds an authenticated API token is trusted without a database look-up;
    # revocation takes effect within this delay. 0 disables the cache.
    auth_cache_seconds: float = Field(10, ge=0)

    sync: SyncSettings = SyncSettings()
    google: GoogleSettings = GoogleSettings()
    microsoft: MicrosoftSettings = MicrosoftSettings()
    oidc: OIDCSettings = OIDCSettings()
    webhooks: WebhookSettings = WebhookSettings()


@lru_cache
def get_settings() -> Settings:
    return Settings()
