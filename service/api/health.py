from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.problems import responses
from service.db import health as db_health
from service.errors import AppError

router = APIRouter(tags=["health"])


class NotReady(AppError):
    status, title, slug = 503, "Service Unavailable", "not-ready"


@router.get("/healthz", summary="Process is up", operation_id="health-live")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Database is reachable and migrated to this version's head revision",
    operation_id="health-ready",
    responses=responses(503),
)
async def readyz(request: Request) -> dict[str, str]:
    if (reason := await db_health.not_ready(request.app.state.engine)) is not None:
        raise NotReady(reason)
    return {"status": "ok"}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    operation_id="health-metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
