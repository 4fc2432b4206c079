"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

import copy
import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import AppError

log = structlog.get_logger(__name__)
PROBLEM_TYPE_BASE = "https://oneonone.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem(
    request: Request,
    status: int,
    title: str,
    slug: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return _problem(request.url.path, status, title, slug, detail, headers, **extra)


def _problem(
    instance: str,
    status: int,
    title: str,
    slug: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def internal_error(path: str) -> JSONResponse:
    """The 500 for an unhandled exception (sent by service.api.observability, which
    logs it with the request id): says nothing of what failed."""
    return _problem(path, 500, "Internal Server Error", "internal", "An unexpected error occurred; it has been logged.")


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ())),
            "message": err.get("msg", ""),
            "code": err.get("type", ""),
        }
        for err in exc.errors()
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem(request, exc.status, exc.title, exc.slug, exc.detail, headers=headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return problem(
            request,
            422,
            "Unprocessable Content",
            "validation",
            "The request is invalid; see `errors`.",
            errors=_field_errors(exc),
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        # Constraint races (two creators at once) end here, not in a 500.
        log.info("integrity_conflict", path=request.url.path)
        return problem(
            request, 409, "Conflict", "conflict", "The request conflicts with the current state of the resource."
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        slug = {404: "not-found", 405: "method-not-allowed", 400: "bad-request"}.get(exc.status_code, "http")
        title = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "HTTP Error")
        return problem(request, exc.status_code, title, slug, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception):
        # Only reached for an exception outside service.api.observability's middleware,
        # which answers (and logs) the others itself, with the request id.
        log.exception("unhandled_error", route="<outside>")
        return internal_error(request.url.path)

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return document_problems(generate())  # generate() caches the document it returns

    app.openapi = openapi  # type: ignore[method-assign]


DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or invalid credentials",
    403: "Not allowed",
    404: "Not found (or not visible to the caller)",
    409: "Conflict with current state",
    412: "ETag does not match (someone else changed it)",
    422: "Invalid input: `errors` names each field and what is wrong with it",
    428: "If-Match header required",
}
_BODY_400 = "Malformed request: a body that cannot be parsed (not UTF-8, nested too deeply)"


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the problem statuses a route can return (their content,
    application/problem+json, is set by `document_problems`)."""
    return {s: {"model": Problem, "description": DESCRIPTIONS.get(s, "Error")} for s in statuses}


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as the API answers: every error (4xx, 5xx) is
    application/problem+json with the `Problem` schema (FastAPI would document
    `model=` under application/json); every operation taking parameters or a body
    documents its 422 (FastAPI's default says application/json with
    HTTPValidationError, which the handler above never sends); and every operation
    taking a body documents the 400 a body that cannot be parsed gets. Idempotent."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
    content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answers = operation["responses"]
            takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
            if takes_input and answers.get("422", {}).get("description", "Validation Error") == "Validation Error":
                answers["422"] = {"description": DESCRIPTIONS[422]}  # not there, or FastAPI's default
            if operation.get("requestBody"):
                answers.setdefault("400", {"description": _BODY_400})
            for status, answer in answers.items():
                if status[0] in "45":
                    answer["content"] = copy.deepcopy(content)
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in json.dumps(document):
            schemas.pop(unused, None)
    return document
