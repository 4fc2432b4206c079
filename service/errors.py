"""One error hierarchy. The API maps every `AppError` to RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 500
    title = "Internal Server Error"
    slug = "internal"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class BadRequest(AppError):
    status, title, slug = 400, "Bad Request", "bad-request"


class Unauthorized(AppError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(AppError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(AppError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(AppError):
    status, title, slug = 409, "Conflict", "conflict"


class PreconditionFailed(AppError):
    status, title, slug = 412, "Precondition Failed", "precondition-failed"


class PayloadTooLarge(AppError):
    """The request's content is larger than the route accepts (RFC 9110 §15.5.14)."""

    status, title, slug = 413, "Content Too Large", "content-too-large"


class PreconditionRequired(AppError):
    status, title, slug = 428, "Precondition Required", "precondition-required"


class ValidationFailed(AppError):
    """Semantically invalid input; `errors` lists what is wrong, per field or row."""

    status, title, slug = 422, "Unprocessable Content", "validation"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors or [])


class ProviderUnavailable(AppError):
    status, title, slug = 503, "Provider Unavailable", "provider-unavailable"
