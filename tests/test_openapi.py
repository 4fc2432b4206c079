"""The committed OpenAPI document is the app's own; regenerate with `make openapi`."""

from __future__ import annotations

import json

from service.api.openapi import document
from tests.conftest import ROOT


def test_committed_openapi_matches_app():
    committed = (ROOT / "openapi" / "openapi.json").read_text()
    assert json.loads(committed) == json.loads(document()), "openapi/openapi.json is stale: run `make openapi`"


def test_every_operation_is_documented():
    spec = json.loads(document())
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            assert op.get("summary"), f"{method} {path} has no summary"
            assert op["operationId"].count("-") >= 1, f"{method} {path}: unstable operation id"
            codes = set(op["responses"])
            if path.startswith("/v1"):
                assert "401" in codes, f"{method} {path} does not document 401"


PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_every_error_is_documented_as_problem_json():
    """The handlers answer every error, 422 and the 400 for a body that cannot be parsed
    included, as application/problem+json: the document says so (FastAPI's default 422 is
    application/json with HTTPValidationError)."""
    spec = json.loads(document())
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            where = f"{method} {path}"
            answers = op["responses"]
            for status, answer in answers.items():
                if status[0] in "45":
                    assert answer["content"] == PROBLEM_CONTENT, (where, status)
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in answers, where
            if op.get("requestBody"):
                assert "400" in answers, where


async def test_the_served_document_is_the_committed_one(client):
    r = await client.get("/openapi.json")
    assert r.json() == json.loads((ROOT / "openapi" / "openapi.json").read_text())


def test_every_outbound_event_type_is_published():
    from service.domain.outbox import EVENT_TYPES

    spec = json.loads(document())
    assert sorted(spec["webhooks"]) == sorted(EVENT_TYPES)
    for kind, operations in spec["webhooks"].items():
        body = operations["post"]["requestBody"]["content"]["application/json"]["schema"]
        event = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
        assert event["properties"]["type"]["const"] == kind
        assert event["additionalProperties"] is False
        assert {p["name"] for p in operations["post"]["parameters"]} == {
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        }
