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
