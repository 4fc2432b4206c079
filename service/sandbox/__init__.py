"""In-memory provider calendars for the fake Google Calendar and Microsoft Graph
servers: provider-native resources, provider-native listing (sync tokens, delta
links) and the provider's quirks. The HTTP layer serves these stores verbatim.

Every time is passed in (a timeline op's `at`); nothing here reads the clock.

The HTTP layer: `google_server.GoogleFake`, `graph_server.GraphFake` (ASGI apps
served by `serve.LoopbackServer`), and `providers.SandboxProviders`, which runs
both for a scenario (imported lazily: the stores need no web stack)."""

from typing import Any

from service.sandbox.errors import GoogleApiError, GraphApiError, ScenarioError
from service.sandbox.google_store import GoogleStore
from service.sandbox.graph_store import GraphStore

__all__ = ["GoogleApiError", "GoogleStore", "GraphApiError", "GraphStore", "SandboxProviders", "ScenarioError"]


def __getattr__(name: str) -> Any:
    if name == "SandboxProviders":
        from service.sandbox.providers import SandboxProviders

        return SandboxProviders
    raise AttributeError(name)
