"""`.env.example` is generated from the settings model and cannot drift from it: every
setting is there with its description and default, and every variable it names is one."""

from __future__ import annotations

import os
import re

from pydantic import BaseModel

from service.settings import Settings, env_example
from tests.conftest import ROOT

VARIABLE = re.compile(r"^# (ONEONONE_[A-Z0-9_]+)=(.*)$", re.M)


def _leaves(model: type[BaseModel], path: tuple[str, ...] = ()):
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _leaves(field.annotation, (*path, name))
        else:
            yield (*path, name), field


def test_env_example_is_generated_from_the_settings_model():
    committed = (ROOT / ".env.example").read_text()
    assert committed == env_example(), ".env.example drifted from service/settings.py: run `make env-example`"


def test_every_setting_is_described():
    undocumented = [".".join(path) for path, field in _leaves(Settings) if not (field.description or "").strip()]
    assert undocumented == []


def test_env_example_names_every_setting_and_nothing_else():
    names = [name for name, _ in VARIABLE.findall((ROOT / ".env.example").read_text())]
    expected = ["ONEONONE_" + "__".join(path).upper() for path, _ in _leaves(Settings)]
    assert sorted(names) == sorted(expected)
    for documented in ("ONEONONE_OIDC__EMAIL_CLAIM", "ONEONONE_SYNC__MAX_BACKOFF_SECONDS"):
        assert documented in names
    assert any(n.endswith("_ENDPOINT") for n in names)  # the provider endpoint overrides


def test_the_example_values_are_the_defaults_and_parse(monkeypatch):
    """Uncommented as they stand, the variables give exactly the defaults: each name and
    value reaches its field (a misspelt name would be ignored, a bad value refused)."""
    for name in [n for n in os.environ if n.startswith("ONEONONE_")]:
        monkeypatch.delenv(name)
    defaults = Settings(_env_file=None)
    for name, value in VARIABLE.findall((ROOT / ".env.example").read_text()):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ONEONONE_SYNC__POLL_MINUTES", "7")  # and a change gets through
    parsed = Settings(_env_file=None)
    assert parsed.sync.poll_minutes == 7 != defaults.sync.poll_minutes
    assert (
        parsed.model_dump()
        == defaults.model_copy(update={"sync": defaults.sync.model_copy(update={"poll_minutes": 7})}).model_dump()
    )
