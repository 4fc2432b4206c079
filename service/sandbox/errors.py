"""Errors the fake providers raise, carrying the provider's own error body so the
HTTP layer can serve them verbatim."""

from __future__ import annotations

from typing import Any


class ScenarioError(ValueError):
    """A timeline operation that cannot be applied as written (a scenario bug,
    not something a provider would answer over HTTP)."""


class GoogleApiError(Exception):
    """A Google Calendar API v3 error (`status`, `reason`), e.g. 410 fullSyncRequired."""

    def __init__(self, status: int, reason: str, message: str, *, domain: str = "global") -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain

    def body(self) -> dict[str, Any]:
        """The JSON body Google sends with this error."""
        return {
            "error": {
                "errors": [{"domain": self.domain, "reason": self.reason, "message": self.message}],
                "code": self.status,
                "message": self.message,
            }
        }


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
