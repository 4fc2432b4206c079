"""The FastAPI application factory."""
from __future__ import annotations

import uuid
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine

from service.api import health, problems
from service.api.routers import ROUTERS
from service.clock import Clock, SystemClock
from service.db.engine import create_engine, session_factory
from service.security.oidc import OIDCVerifier
from service.settings import Settings, get_settings


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(settings: Settings | None = None, *, engine: AsyncEngine | None = None,
               clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = engine is None
        app.state.engine = engine or create_engine(settings.database_url, pool_size=settings.db_pool_size)
        app.state.sessions = session_factory(app.state.engine)
        yield
        if owned:
            await app.state.engine.dispose()

    app = FastAPI(
        title="oneonone",
        version="1.0.0",
        summary="Keeps manager-employee 1:1s healthy: agendas, notes, action items and calendar truth.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.oidc = OIDCVerifier(settings.oidc) if settings.oidc.issuer else None
    if engine is not None:  # tests hand in an engine; make state usable without lifespan
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
    problems.install(app)

    @app.middleware("http")
    async def request_id(request: Request, call_next):
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            response = await call_next(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response.headers["X-Request-ID"] = rid
        return response

    app.include_router(health.router)
    for router in ROUTERS:
        app.include_router(router, prefix="/v1")
    return app
