"""The FastAPI application factory."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.cors import CORSMiddleware

from service import __version__
from service.api import docs, health, problems, webapp, webhook_endpoints, webhooks
from service.api.observability import RequestMiddleware
from service.api.principal_cache import PrincipalCache
from service.api.routers import ROUTERS
from service.clock import Clock, SystemClock
from service.db.engine import create_engine, read_session_factory, session_factory
from service.security.oidc import OIDCVerifier
from service.settings import Settings, get_settings
from service.sync.connect import CalendarConnector
from service.sync.webhooks import RejectionLog


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def _bind_engine(app: FastAPI, engine: AsyncEngine, msal_http_client: Any) -> None:
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.read_sessions = read_session_factory(engine)
    app.state.connector = CalendarConnector(
        app.state.settings, app.state.clock, app.state.sessions, msal_http_client=msal_http_client
    )


def bind(app: FastAPI, clock: Clock, engine: AsyncEngine | None = None, msal_http_client: Any = None) -> None:
    """Everything of the app's that holds state (clock, caches, logs, the engine's
    sessions), new: create_app's, and tests' that serve one app to many tests (FastAPI
    compiles a router's routes on an app's first request to it, dearer than most tests)."""
    settings = app.state.settings
    app.state.clock = clock
    app.state.oidc = OIDCVerifier(settings.oidc) if settings.oidc.issuer else None
    app.state.principal_cache = PrincipalCache(settings.auth_cache_seconds)
    app.state.webhook_rejections = RejectionLog(clock, timedelta(seconds=settings.webhooks.log_interval_seconds))
    if engine is not None:  # tests hand in an engine; make state usable without lifespan
        _bind_engine(app, engine, msal_http_client)


# What a browser on an allowed origin may send and read (service.settings.CorsSettings).
CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "If-Match", "If-None-Match", "X-Request-ID")
CORS_EXPOSED_HEADERS = ("ETag", "Location", "Retry-After", "X-Request-ID")


def cors_options(settings: Settings) -> dict[str, Any]:
    return dict(
        allow_origins=settings.cors.allow_origins,
        allow_methods=CORS_METHODS,
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        allow_credentials=False,  # bearer tokens, no cookies
        max_age=settings.cors.max_age,
    )


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    clock: Clock | None = None,
    msal_http_client: Any = None,
) -> FastAPI:
    """`engine`: the caller's (tests); else one is opened by the lifespan.
    `msal_http_client`: MSAL's transport for the connect flow (None in production;
    the sandbox's loopback)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = engine is None
        _bind_engine(
            app, engine or create_engine(settings.database_url, pool_size=settings.db_pool_size), msal_http_client
        )
        # Everything built so far (modules, models, schemas) lives as long as the
        # process: freezing it keeps the collector's full passes from re-scanning it.
        gc.collect()
        gc.freeze()
        yield
        if owned:
            await app.state.engine.dispose()

    app = FastAPI(
        title="oneonone",
        version=__version__,
        summary="Keeps manager-employee 1:1s healthy: agendas, notes, action items and calendar truth.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,  # served from the package by docs.install: no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    bind(app, clock or SystemClock(), engine, msal_http_client)
    problems.install(app)
    templates: dict[int, str] = {}  # id(route) → its path template as served (prefix included)
    app.add_middleware(RequestMiddleware, templates=templates)  # request id, metrics, access log, 500s
    if settings.cors.allow_origins:  # outermost, so problem responses carry the headers too
        app.add_middleware(CORSMiddleware, **cors_options(settings))
    docs.install(app)
    for router, prefix in ((health.router, ""), (webhooks.router, ""), *((r, "/v1") for r in ROUTERS)):
        app.include_router(router, prefix=prefix)
        templates.update((id(route), prefix + route.path) for route in router.routes if hasattr(route, "path"))
    webhook_endpoints.describe_events(app)
    webapp.install(app)  # after the API routes: its mount must not shadow them
    return app
