"""Bad scenario files get a clear error naming the entry, and exit status 2."""

from __future__ import annotations

import copy
import json

import pytest

from service.cli import main
from service.replay.validate import ScenarioError, validate
from tests.conftest import ROOT

BASE = json.loads((ROOT.parent / "shared" / "scenarios" / "public" / "03-cancel-rescheduled.json").read_text())


def _broken(mutate) -> dict:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    return doc


CASES = {
    "format": (lambda d: d.update(format="oneonone-scenario/2"), "format"),
    "unsorted": (lambda d: d["timeline"][2].update(at="2026-01-04T00:00:00Z"), "timeline[2]"),
    "after now": (lambda d: d["timeline"][-1].update(at="2027-01-01T00:00:00Z"), "outside [start, now]"),
    "bad time": (lambda d: d["timeline"][1].update(at="yesterday"), "timeline[1] (create).at"),
    "unknown calendar": (lambda d: d["timeline"][0].update(calendars=["nobody@acme.test"]), "unknown calendar"),
    "unknown event": (lambda d: d["timeline"][2].update(event_id="nope"), "unknown event id 'nope'"),
    "unknown op": (lambda d: d["timeline"][0].update(op="explode"), "unknown op 'explode'"),
    "unknown manager": (lambda d: d["org"]["people"][1].update(manager="ghost@acme.test"), "unknown manager"),
}


@pytest.mark.parametrize("name", CASES)
def test_invalid_scenarios_name_the_entry(name):
    mutate, expected = CASES[name]
    with pytest.raises(ScenarioError) as err:
        validate(_broken(mutate))
    assert expected in str(err.value)


def test_valid_scenario_passes():
    validate(copy.deepcopy(BASE))


def test_cli_exits_2_on_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_broken(CASES["unsorted"][0])))
    assert main(["replay", str(bad), "--json"]) == 2
    err = capsys.readouterr().err
    assert "timeline[2]" in err and "unsorted" in err
    (tmp_path / "notjson.json").write_text("{")
    assert main(["replay", str(tmp_path / "notjson.json")]) == 2
