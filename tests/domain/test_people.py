"""Validation of an imported batch of people (the API and the CLI share it)."""

from __future__ import annotations

from zoneinfo import available_timezones

import pytest

from service.domain.people import PersonRow, is_zone, validate_batch


def test_every_zone_of_the_database_is_a_zone():
    assert all(is_zone(name) for name in available_timezones())
    assert is_zone("UTC") and is_zone("Etc/GMT+5") and is_zone("America/Port-au-Prince")


@pytest.mark.parametrize(
    "name",
    [
        "America",
        "America/",
        "Europe/",
        "Europe//Berlin",
        "../etc/passwd",
        "/etc/passwd",
        "Europe/../Europe/Berlin",
        "",
        " ",
        ".",
        "zone.tab",
        "tzdata.zi",
        "Mars/Olympus",
        "Europe\\Berlin",
        "x" * 300,
        "Europe/Berlin\x00",
        "\u00e4",
        "\udcff",
    ],
    ids=repr,
)
def test_names_zoneinfo_cannot_load_are_not_zones(name):
    assert not is_zone(name)
    [error] = validate_batch([PersonRow(email="a@acme.test", name="A", timezone=name)], {})
    assert error["field"] == "timezone" and error["message"].startswith("unknown IANA time zone")
