"""GraphStore timeline operations and GET /events/{id}."""

from __future__ import annotations

import pytest

from service.sandbox import GraphApiError, ScenarioError
from service.sandbox.graph_view import occurrence_id
from tests.sandbox.builders import LI, MAYA, OMAR, graph_event, graph_store, t

AT = t("2026-01-02T08:00:00Z")
MASTER = "AAMkAGev1AAA="


def _weekly(store, **rng) -> None:
    store.create([MAYA], graph_event(pattern={}, rng=rng or None), at=AT)


def test_create_sets_provider_fields_and_serves_v1_shape() -> None:
    store = graph_store()
    store.create([MAYA], graph_event(lastModifiedDateTime="1999-01-01T00:00:00Z", changeKey="stale"), at=AT)
    event = store.get_event(MAYA, "AAMkAGev1AAA=")
    assert event["createdDateTime"] == event["lastModifiedDateTime"] == "2026-01-02T08:00:00.0000000Z"
    assert event["changeKey"] != "stale" and event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    assert "uid" not in event  # beta-only: never served by v1.0
    assert event["isOrganizer"] is True and event["responseStatus"]["response"] == "organizer"
    assert event["type"] == "singleInstance"
    # Default: times in UTC; Prefer: outlook.timezone asks for another zone.
    assert event["start"] == {"dateTime": "2026-01-05T08:00:00.0000000", "timeZone": "UTC"}
    local = store.get_event(MAYA, "AAMkAGev1AAA=", prefer_timezone="W. Europe Standard Time")
    assert local["start"] == {"dateTime": "2026-01-05T09:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    assert (
        store.get_event(MAYA, "AAMkAGev1AAA=", prefer_timezone="Asia/Kolkata")["start"]["dateTime"]
        == "2026-01-05T13:30:00.0000000"
    )
    with pytest.raises(GraphApiError) as err:
        store.get_event(MAYA, "AAMkAGev1AAA=", prefer_timezone="Mars Standard Time")
    assert err.value.status == 400


def test_each_mailbox_holds_its_own_copy() -> None:
    store = graph_store(MAYA, LI)
    with pytest.raises(ScenarioError):
        store.create([MAYA, LI], graph_event(), at=AT)
    store.create([LI], graph_event("AAMkLIcopy="), at=AT)
    assert store.get_event(LI, "AAMkLIcopy=")["isOrganizer"] is False
    assert store.get_event(LI, "AAMkLIcopy=")["responseStatus"]["response"] == "notResponded"
    with pytest.raises(GraphApiError) as err:
        store.get_event(MAYA, "AAMkLIcopy=")
    assert err.value.status == 404 and err.value.code == "ErrorItemNotFound"


def test_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(GraphApiError) as err:
        graph_store().create([MAYA], graph_event(zone="Atlantis Standard Time"), at=AT)
    assert err.value.status == 400


def test_occurrences_have_stable_ids_and_full_details_on_get() -> None:
    store = graph_store()
    _weekly(store)
    occ = occurrence_id(MASTER, t("2026-01-12T08:00:00Z"))
    assert occ == occurrence_id(MASTER, t("2026-01-12T08:00:00Z")) != occurrence_id(MASTER, t("2026-01-19T08:00:00Z"))
    store.calendar_view_delta(MAYA, start="2026-01-01T00:00:00Z", end="2026-02-01T00:00:00Z")
    full = store.get_event(MAYA, occ)
    assert full["type"] == "occurrence" and full["seriesMasterId"] == MASTER and full["subject"] == "Maya / Li 1:1"
    assert full["originalStart"] == "2026-01-12T08:00:00Z" and full["recurrence"] is None
    master = store.get_event(MAYA, MASTER)
    assert full["iCalUId"] != master["iCalUId"]  # per-occurrence on Graph
    assert master["type"] == "seriesMaster" and "cancelledOccurrences" not in master


def test_sensitivity_defaults_to_normal_and_occurrences_inherit_it() -> None:
    """As on Graph: every event has a sensitivity; $select serves only what it names."""
    store = graph_store()
    plain = graph_event("AAMkAGplain=")
    del plain["sensitivity"]
    store.create([MAYA], plain, at=AT)
    assert store.get_event(MAYA, "AAMkAGplain=")["sensitivity"] == "normal"
    store.create([MAYA], graph_event(pattern={}, sensitivity="private"), at=AT)
    occ = occurrence_id(MASTER, t("2026-01-12T08:00:00Z"))
    store.calendar_view_delta(MAYA, start="2026-01-01T00:00:00Z", end="2026-02-01T00:00:00Z")
    assert store.get_event(MAYA, occ)["sensitivity"] == "private"
    assert store.get_event(MAYA, MASTER, select=["sensitivity"])["sensitivity"] == "private"
    assert "sensitivity" not in store.get_event(MAYA, MASTER, select=["subject"])


def test_cancel_occurrence_removes_it_and_lists_it_on_the_master() -> None:
    store = graph_store()
    _weekly(store)
    before = store.get_event(MAYA, MASTER)["changeKey"]
    store.cancel_occurrence([MAYA], MASTER, t("2026-01-12T08:00:00Z"), at=t("2026-01-08T08:00:00Z"))
    master = store.get_event(MAYA, MASTER, select=["subject", "cancelledOccurrences"])
    assert master["cancelledOccurrences"] == [f"OID.{MASTER}.2026-01-12"]
    assert set(master) == {"@odata.etag", "id", "subject", "cancelledOccurrences"}
    assert master["@odata.etag"] != f'W/"{before}"'
    with pytest.raises(GraphApiError):
        store.get_event(MAYA, occurrence_id(MASTER, t("2026-01-12T08:00:00Z")))
    with pytest.raises(GraphApiError):  # twice, or a slot the series lacks
        store.cancel_occurrence([MAYA], MASTER, t("2026-01-12T08:00:00Z"), at=AT)
    with pytest.raises(GraphApiError):
        store.cancel_occurrence([MAYA], MASTER, t("2026-01-13T08:00:00Z"), at=AT)


def test_move_and_respond_make_exceptions_that_keep_the_id() -> None:
    store = graph_store()
    _weekly(store)
    occ = occurrence_id(MASTER, t("2026-01-12T08:00:00Z"))
    store.move_occurrence(
        [MAYA],
        MASTER,
        t("2026-01-12T08:00:00Z"),
        {"dateTime": "2026-01-13T15:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        {"dateTime": "2026-01-13T15:30:00.0000000", "timeZone": "W. Europe Standard Time"},
        at=t("2026-01-10T08:00:00Z"),
    )
    moved = store.get_event(MAYA, occ)
    assert moved["type"] == "exception" and moved["start"]["dateTime"] == "2026-01-13T14:00:00.0000000"
    assert moved["originalStart"] == "2026-01-12T08:00:00Z" and moved["lastModifiedDateTime"].startswith("2026-01-10")
    store.respond(
        [MAYA], MASTER, LI, "declined", at=t("2026-01-11T08:00:00Z"), original_start=t("2026-01-12T08:00:00Z")
    )
    answered = store.get_event(MAYA, occ)
    assert answered["attendees"][0]["status"] == {"response": "declined", "time": "2026-01-11T08:00:00Z"}
    assert answered["start"] == moved["start"]  # still moved
    assert store.get_event(MAYA, MASTER)["attendees"][0]["status"]["response"] == "none"
    assert store.get_event(MAYA, MASTER, select=["exceptionOccurrences"])["exceptionOccurrences"] == [occ]


def test_owner_answer_goes_to_response_status() -> None:
    store = graph_store(LI)
    store.create([LI], graph_event("AAMkLIcopy="), at=AT)
    store.respond([LI], "AAMkLIcopy=", LI, "tentative", at=t("2026-01-03T08:00:00Z"))
    event = store.get_event(LI, "AAMkLIcopy=")
    assert event["responseStatus"] == {"response": "tentativelyAccepted", "time": "2026-01-03T08:00:00Z"}
    with pytest.raises(ScenarioError):
        store.respond([LI], "AAMkLIcopy=", OMAR, "accepted", at=AT)


def test_delete_removes_a_series_with_all_its_instances() -> None:
    store = graph_store()
    _weekly(store)
    occ = occurrence_id(MASTER, t("2026-01-12T08:00:00Z"))
    store.respond([MAYA], MASTER, LI, "accepted", at=AT, original_start=t("2026-01-12T08:00:00Z"))
    store.delete([MAYA], MASTER, at=t("2026-01-09T08:00:00Z"))
    for gone in (MASTER, occ):
        with pytest.raises(GraphApiError) as err:
            store.get_event(MAYA, gone)
        assert err.value.status == 404


def test_delete_of_an_occurrence_cancels_it() -> None:
    store = graph_store()
    _weekly(store)
    occ = occurrence_id(MASTER, t("2026-01-12T08:00:00Z"))
    store.calendar_view_delta(MAYA, start="2026-01-01T00:00:00Z", end="2026-02-01T00:00:00Z")
    store.delete([MAYA], occ, at=t("2026-01-09T08:00:00Z"))
    assert store.get_event(MAYA, MASTER, select=["cancelledOccurrences"])["cancelledOccurrences"] == [
        f"OID.{MASTER}.2026-01-12"
    ]


def test_update_series_end_prunes_later_exceptions() -> None:
    store = graph_store()
    _weekly(store)
    store.respond([MAYA], MASTER, LI, "accepted", at=AT, original_start=t("2026-02-02T08:00:00Z"))
    store.respond([MAYA], MASTER, LI, "accepted", at=AT, original_start=t("2026-01-12T08:00:00Z"))
    rec = store.get_event(MAYA, MASTER)["recurrence"]
    rec["range"].update(type="endDate", endDate="2026-01-26")
    store.update([MAYA], MASTER, {"recurrence": rec}, at=t("2026-01-20T08:00:00Z"))
    assert store.get_event(MAYA, MASTER, select=["exceptionOccurrences"])["exceptionOccurrences"] == [
        occurrence_id(MASTER, t("2026-01-12T08:00:00Z"))
    ]
