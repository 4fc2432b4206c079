"""The app's `/v1` operations, for tests that must cover every endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute

from service.api.app import create_app
from service.settings import Settings


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the template, e.g. "/v1/meetings/{meeting_id}"
    route: APIRoute

    @property
    def path_params(self) -> list[str]:
        return [p.name for p in self.route.dependant.path_params]

    @property
    def query_params(self) -> list[str]:
        return [p.alias for p in self.route.dependant.query_params]

    @property
    def has_json_body(self) -> bool:
        return self.route.body_field is not None


def v1_operations() -> list[Operation]:
    """Every (method, path) the app serves under `/v1`, HEAD aside."""
    app = create_app(Settings(_env_file=None))
    try:  # recent FastAPI keeps included routers as branches of `app.routes`: flatten them
        from fastapi.routing import iter_route_contexts

        routes: Any = list(iter_route_contexts(app.routes))
    except ImportError:  # pragma: no cover - older FastAPI: `app.routes` is already flat
        routes = app.routes
    found = []
    for route in routes:
        path = getattr(route, "path", None) or ""
        original = getattr(route, "original_route", route)
        if path.startswith("/v1/") and isinstance(original, APIRoute):
            found += [Operation(m, path, original) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found
