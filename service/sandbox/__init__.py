"""In-memory provider calendars for the fake Google Calendar and Microsoft Graph
servers: provider-native resources, provider-native listing (sync tokens, delta
links) and the provider's quirks. The HTTP layer serves these stores verbatim.

Every time is passed in (a timeline op's `at`); nothing here reads the clock."""
from service.sandbox.errors import GoogleApiError, GraphApiError, ScenarioError
from service.sandbox.google_store import GoogleStore
from service.sandbox.graph_store import GraphStore

__all__ = ["GoogleApiError", "GoogleStore", "GraphApiError", "GraphStore", "ScenarioError"]
