"""Fidelity: every payload the fakes serve must be something the real APIs
define. Graph items must parse into msgraph-sdk's v1.0 `Event` model with no
unknown property and no value the model cannot read; Google pages and events
must match the `Events`/`Event` schemas of the Calendar v3 discovery document
shipped in google-api-python-client."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import googleapiclient
import httplib2
import pytest
from googleapiclient.errors import HttpError
from kiota_abstractions.serialization import Parsable
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.event import Event
from msgraph.generated.models.user import User

from service.sandbox import errors as fake_errors
from service.sandbox.google_server import fault_error
from service.sandbox.scenario import build_stores, load_scenario
from tests.sandbox.builders import LI, MAYA, google_event, google_store, graph_event, graph_store, t
from tests.sandbox_pipeline import replay

SCENARIOS = sorted((Path(__file__).resolve().parents[2].parent / "shared" / "scenarios" / "public").glob("*.json"))
DISCOVERY = json.loads(
    (Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "calendar.v3.json").read_text()
)


# -- Google: discovery schema ------------------------------------------------------
def _check_google(value: Any, schema: dict, path: str, errors: list[str]) -> None:
    if "$ref" in schema:
        schema = DISCOVERY["schemas"][schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected object, got {value!r}")
            return
        props = schema.get("properties")
        for key, item in value.items():
            if props is not None:
                if key not in props:
                    errors.append(f"{path}.{key}: not in the discovery schema")
                    continue
                _check_google(item, props[key], f"{path}.{key}", errors)
            elif "additionalProperties" in schema:
                _check_google(item, schema["additionalProperties"], f"{path}.{key}", errors)
    elif kind == "array":
        if not isinstance(value, list):
            errors.append(f"{path}: expected array")
            return
        for n, item in enumerate(value):
            _check_google(item, schema["items"], f"{path}[{n}]", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected string, got {value!r}")
        elif schema.get("format") == "date-time":
            try:
                assert datetime.fromisoformat(value).tzinfo is not None
            except (ValueError, AssertionError):
                errors.append(f"{path}: not an RFC 3339 date-time: {value!r}")
        elif schema.get("format") == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                errors.append(f"{path}: not a date: {value!r}")
    elif kind == "boolean" and not isinstance(value, bool):
        errors.append(f"{path}: expected boolean, got {value!r}")
    elif kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        errors.append(f"{path}: expected integer, got {value!r}")


def google_errors(page_or_event: dict, schema: str) -> list[str]:
    errors: list[str] = []
    _check_google(page_or_event, {"$ref": schema}, schema, errors)
    return errors


# -- Graph: msgraph-sdk model ---------------------------------------------------------
def _attr(obj: Parsable, key: str) -> str | None:
    wanted = key.replace("_", "").lower()
    for name in vars(obj):
        if name.replace("_", "").lower() == wanted:
            return name
    return None


def _check_graph(raw: dict, parsed: Parsable, path: str, errors: list[str]) -> None:
    extra = getattr(parsed, "additional_data", {}) or {}
    for key, value in raw.items():
        if key.startswith("@"):
            continue  # OData annotations (@odata.etag, @removed, …)
        if key in extra:
            errors.append(f"{path}.{key}: unknown to the v1.0 Event model")
            continue
        name = _attr(parsed, key)
        got = getattr(parsed, name) if name else None
        if value is not None and got is None:
            errors.append(f"{path}.{key}: the model could not read {value!r}")
        elif isinstance(value, dict) and isinstance(got, Parsable):
            _check_graph(value, got, f"{path}.{key}", errors)
        elif isinstance(value, list) and isinstance(got, list):
            for n, (raw_item, item) in enumerate(zip(value, got)):
                if isinstance(raw_item, dict) and isinstance(item, Parsable):
                    _check_graph(raw_item, item, f"{path}.{key}[{n}]", errors)


def graph_errors(item: dict, model: type[Parsable] = Event) -> list[str]:
    parsed = JsonParseNode(json.loads(json.dumps(item))).get_object_value(model)
    errors: list[str] = []
    _check_graph(item, parsed, item.get("id", "?"), errors)
    return errors


# -- capture ------------------------------------------------------------------------------
def _recording(fn: Callable, sink: list) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        sink.append(out)
        return out

    return wrapper


def _served(path: Path, stubs: bool) -> tuple[list[dict], list[dict], list[dict]]:
    scenario = load_scenario(path)
    google, graph = build_stores(scenario, stub_occurrences=stubs)
    google_pages: list[dict] = []
    graph_pages: list[dict] = []
    graph_events: list[dict] = []
    google.list_events = _recording(google.list_events, google_pages)  # type: ignore[method-assign]
    graph.calendar_view_delta = _recording(graph.calendar_view_delta, graph_pages)  # type: ignore[method-assign]
    graph.get_event = _recording(graph.get_event, graph_events)  # type: ignore[method-assign]
    replay(scenario, google, graph)
    for mailbox in graph.mailboxes():  # masters with their $select-only properties too
        for event_id in list(graph._mailboxes[mailbox].events):
            graph.get_event(mailbox, event_id, prefer_timezone="W. Europe Standard Time")
            graph.get_event(mailbox, event_id, select=["subject", "cancelledOccurrences", "exceptionOccurrences"])
    return google_pages, graph_pages, graph_events


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
@pytest.mark.parametrize("stubs", [True, False], ids=["stubs", "full"])
def test_every_served_payload_is_provider_shaped(path: Path, stubs: bool) -> None:
    google_pages, graph_pages, graph_events = _served(path, stubs)
    errors: list[str] = []
    for page in google_pages:
        errors += google_errors(page, "Events")
        assert ("nextPageToken" in page) != ("nextSyncToken" in page)
    graph_items = [item for page in graph_pages for item in page["value"]] + graph_events
    # Graph resends occurrences often: parse each distinct payload once.
    for text in {json.dumps(item, sort_keys=True) for item in graph_items}:
        errors += graph_errors(json.loads(text))
    for page in graph_pages:
        assert ("@odata.nextLink" in page) != ("@odata.deltaLink" in page)
    assert not errors, "\n".join(errors[:20])
    assert graph_items or google_pages


def test_special_shapes_are_provider_shaped() -> None:
    store = google_store()
    all_day = google_event("allday", recurrence=["RRULE:FREQ=DAILY;COUNT=3"], transparency="transparent")
    all_day["start"], all_day["end"] = {"date": "2026-01-26"}, {"date": "2026-01-27"}
    all_day["attendees"].append(
        {"email": "room@resource.calendar.google.com", "resource": True, "responseStatus": "accepted"}
    )
    store.create([MAYA, LI], all_day, at=t("2026-01-02T08:00:00Z"))
    store.cancel_occurrence([MAYA], "allday", t("2026-01-27T00:00:00Z"), at=t("2026-01-03T08:00:00Z"))
    store.respond(
        [MAYA], "allday", LI, "tentative", at=t("2026-01-03T08:00:00Z"), original_start=t("2026-01-28T00:00:00Z")
    )
    pages = [store.list_events(MAYA, show_deleted=True), store.list_events(MAYA, single_events=True)]
    assert not [e for page in pages for e in google_errors(page, "Events")]
    graph = graph_store()
    graph.create(
        [MAYA],
        graph_event(
            pattern={"type": "relativeMonthly", "daysOfWeek": ["monday"], "index": "last"},
            rng={"type": "numbered", "numberOfOccurrences": 4},
            showAs="free",
        ),
        at=t("2026-01-02T08:00:00Z"),
    )
    graph.create(
        [MAYA],
        graph_event(
            "AAMkVac=",
            isAllDay=True,
            start="2026-02-19T00:00:00.0000000",
            end="2026-02-20T00:00:00.0000000",
            showAs="oof",
        ),
        at=t("2026-01-02T08:00:00Z"),
    )
    page = graph.calendar_view_delta(MAYA, start="2026-01-01T00:00:00Z", end="2026-06-01T00:00:00Z", max_page_size=50)
    assert not [e for item in page["value"] for e in graph_errors(item)]


def test_checkers_catch_unknown_fields() -> None:
    assert google_errors({"items": [{"id": "x", "bogus": 1, "start": {"dateTime": 5}}]}, "Events")
    assert graph_errors({"id": "x", "uid": "beta-only"})
    assert graph_errors({"id": "x", "showAs": "napping"})


def test_calendar_resource_is_provider_shaped() -> None:
    calendar = google_store().get_calendar(MAYA)
    assert calendar["timeZone"] == "Europe/Berlin" and not google_errors(calendar, "Calendar")


# -- Google: error envelopes, as google-api-python-client reads them -----------------------------------
_CANONICAL_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _google_error_bodies() -> list[dict]:
    faults = [
        (403, None),
        (403, "rateLimitExceeded"),
        (403, "userRateLimitExceeded"),
        (403, "dailyLimitExceeded"),
        (429, None),
        (429, "userRateLimitExceeded"),
        (403, "quotaExceeded"),
        (403, "forbidden"),
        (403, "notACalendarUser"),
        (403, "accessNotConfigured"),
        (403, "insufficientPermissions"),
        (401, None),
        (400, None),
        (500, None),
        (503, None),
    ]
    made = [fault_error(status, reason) for status, reason in faults] + [
        fake_errors.google_not_found(),
        fake_errors.google_unauthenticated("expired"),
        fake_errors.google_unauthenticated("missing"),
        fake_errors.GoogleApiError(410, "fullSyncRequired", "Sync token is no longer valid.", domain="calendar"),
        fake_errors.google_quota_exceeded(429, "defaultPerMinutePerProject", 10_000),
    ]
    return [error.body() for error in made]


@pytest.mark.parametrize(
    "body", _google_error_bodies(), ids=lambda b: f"{b['error']['code']}-{b['error']['errors'][0]['reason']}"
)
def test_google_errors_come_in_todays_envelope(body: dict) -> None:
    error = body["error"]
    code = error["code"]
    assert set(error) <= {"code", "message", "errors", "status", "details"}
    assert isinstance(error["message"], str) and error["message"]
    assert [set(item) for item in error["errors"]] == [{"message", "domain", "reason"}]
    assert error.get("status") == _CANONICAL_STATUS.get(code)
    for detail in error.get("details", []):
        assert detail["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
        assert detail["domain"] == "googleapis.com" and detail["reason"].isupper()
        assert all(isinstance(v, str) for v in detail["metadata"].values())
    quota = error["errors"][0]["reason"] in ("rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded")
    if quota:  # Google's front end words quota errors in both lists
        assert error["errors"][0]["domain"] == "usageLimits"
        assert [d["reason"] for d in error["details"]] == ["RATE_LIMIT_EXCEEDED"]
        assert error["details"][0]["metadata"]["quota_limit"].startswith("defaultPer")

    # What the client library makes of it: the message as `reason`, and in `error_details`
    # the newer details[] when there are any (so RATE_LIMIT_EXCEEDED, not rateLimitExceeded).
    parsed = HttpError(httplib2.Response({"status": code}), json.dumps(body).encode())
    assert parsed.status_code == code and parsed.reason == error["message"]
    assert parsed.error_details == error.get("details", error["errors"])


def test_directory_user_is_provider_shaped() -> None:
    store = graph_store()
    store.add_mailbox("ana@acme.test", upn="ana.lima@acme.onmicrosoft.com", aliases=["a.lima@acme.test"])
    store.rename_mailbox("ana.lima@acme.onmicrosoft.com", "ana.silva@acme.test", keep_alias=True)
    user = store.directory_user("ana@acme.test")
    assert not graph_errors(user, User) and not graph_errors(store.directory_user(MAYA), User)
    assert graph_errors({"id": "x", "proxyAddress": "SMTP:a@b"}, User)
