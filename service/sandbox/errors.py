"""Errors the fake providers raise, carrying the provider's own error body so the
HTTP layer can serve them verbatim."""

from __future__ import annotations

from typing import Any


class ScenarioError(ValueError):
    """A timeline operation that cannot be applied as written (a scenario bug,
    not something a provider would answer over HTTP)."""


# Canonical google.rpc status of each HTTP code Google's front end answers with (none for 410/412:
# the Calendar API's own `fullSyncRequired`, `conditionNotMet` carry no `status`).
_CANONICAL = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
CALENDAR_SERVICE = "calendar-json.googleapis.com"


class GoogleApiError(Exception):
    """A Google API error (`status`, `reason`), e.g. 410 fullSyncRequired, in today's envelope:
    `{"error": {"code", "message", "errors": [{"message", "domain", "reason"}], "status",
    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason", "domain",
    "metadata"}]}}`. Google's front end adds `status` (the canonical code) and, for the
    errors it raises itself (credentials, scopes, quotas, a disabled API), an ErrorInfo
    whose reason is spelt differently (`RATE_LIMIT_EXCEEDED` for `rateLimitExceeded`).
    google-api-python-client's `HttpError.error_details` prefers `details[]` over
    `errors[]`: a client reading only that sees RATE_LIMIT_EXCEEDED."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        info: str | None = None,
        metadata: dict[str, str] | None = None,
        error_message: str | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.info = info  # the ErrorInfo reason, when Google's front end adds one
        self.metadata = metadata or {}
        self.error_message = error_message or message  # errors[].message, which may differ from message

    def body(self) -> dict[str, Any]:
        """The JSON body Google sends with this error."""
        error: dict[str, Any] = {
            "code": self.status,
            "message": self.message,
            "errors": [{"message": self.error_message, "domain": self.domain, "reason": self.reason}],
        }
        if self.status in _CANONICAL:
            error["status"] = _CANONICAL[self.status]
        if self.info:
            error["details"] = [
                {
                    "@type": ERROR_INFO,
                    "reason": self.info,
                    "domain": "googleapis.com",
                    "metadata": {"service": CALENDAR_SERVICE, **self.metadata},
                }
            ]
        return {"error": error}


class GraphApiError(Exception):
    """A Microsoft Graph v1.0 error (`status`, `code`), e.g. 410 syncStateNotFound."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body Graph sends with this error."""
        return {"error": {"code": self.code, "message": self.message}}


def google_not_found() -> GoogleApiError:
    return GoogleApiError(404, "notFound", "Not Found")


def graph_not_found() -> GraphApiError:
    return GraphApiError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


# -- Google errors its front end raises (credentials, scopes, quotas), with their ErrorInfo ---------------
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_TOKEN_INFO = {"missing": "CREDENTIALS_MISSING", "expired": "ACCESS_TOKEN_EXPIRED"}
PROJECT_NUMBER = "573861206473"  # the fake's Cloud project


def google_unauthenticated(why: str = "invalid") -> GoogleApiError:
    """401 authError: no, an unknown or an expired access token (`why`)."""
    return GoogleApiError(
        401,
        "authError",
        _UNAUTHENTICATED,
        error_message="Invalid Credentials",
        info=_TOKEN_INFO.get(why, "ACCESS_TOKEN_TYPE_UNSUPPORTED"),
    )


def google_insufficient_scopes() -> GoogleApiError:
    return GoogleApiError(
        403,
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
        error_message="Insufficient Permission",
        info="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
    )


def google_api_disabled() -> GoogleApiError:
    """403 accessNotConfigured: the Calendar API is not enabled in the project."""
    message = (
        f"Google Calendar API has not been used in project {PROJECT_NUMBER} before or it is disabled. Enable it "
        "by visiting the Google Cloud console, then retry."
    )
    return GoogleApiError(
        403,
        "accessNotConfigured",
        message,
        domain="usageLimits",
        info="SERVICE_DISABLED",
        metadata={"consumer": f"projects/{PROJECT_NUMBER}"},
    )


# quota limit name → (its description in messages, the older errors[] reason)
QUOTA_LIMITS = {
    "defaultPerMinutePerUser": ("Queries per minute per user", "userRateLimitExceeded"),
    "defaultPerMinutePerProject": ("Queries per minute", "rateLimitExceeded"),
    "defaultPerDayPerProject": ("Queries per day", "dailyLimitExceeded"),
}


def google_quota_exceeded(status: int, limit: str, value: int | float | None = None) -> GoogleApiError:
    """403 or 429 for an exhausted quota, as Google's front end words it: errors[] with the
    older reason (userRateLimitExceeded, rateLimitExceeded, dailyLimitExceeded; domain
    usageLimits) and details[] with an ErrorInfo RATE_LIMIT_EXCEEDED naming the quota."""
    description, reason = QUOTA_LIMITS[limit]
    message = (
        f"Quota exceeded for quota metric 'Queries' and limit '{description}' of service "
        f"'{CALENDAR_SERVICE}' for consumer 'project_number:{PROJECT_NUMBER}'."
    )
    metadata = {
        "quota_metric": f"{CALENDAR_SERVICE}/default",
        "quota_limit": limit,
        "quota_location": "global",
        "consumer": f"projects/{PROJECT_NUMBER}",
    }
    if value is not None:
        metadata["quota_limit_value"] = str(int(value))
    return GoogleApiError(status, reason, message, domain="usageLimits", info="RATE_LIMIT_EXCEEDED", metadata=metadata)
