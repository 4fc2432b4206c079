"""GoogleStore timeline operations: how Google shows each change."""

from __future__ import annotations

import pytest

from service.sandbox import GoogleApiError, ScenarioError
from tests.sandbox.builders import LI, MAYA, OMAR, google_drain, google_event, google_store, t

WEEKLY = ["RRULE:FREQ=WEEKLY;BYDAY=MO"]


def test_one_op_shares_the_event_and_its_id_across_calendars() -> None:
    store = google_store()
    store.create([MAYA, LI], google_event(), at=t("2026-01-02T08:00:00Z"))
    maya, li = store.get_event(MAYA, "ev1"), store.get_event(LI, "ev1")
    assert maya["id"] == li["id"] == "ev1" and maya["iCalUID"] == li["iCalUID"]
    # Each calendar sees itself marked `self`.
    assert [a.get("self", False) for a in maya["attendees"]] == [True, False]
    assert [a.get("self", False) for a in li["attendees"]] == [False, True]
    assert maya["organizer"].get("self") is True and "self" not in li["organizer"]
    with pytest.raises(GoogleApiError) as err:
        store.get_event(OMAR, "ev1")
    assert err.value.status == 404


def test_store_sets_provider_fields_from_at() -> None:
    store = google_store()
    store.create(
        [MAYA], google_event(updated="1999-01-01T00:00:00Z", etag='"x"', sequence=9), at=t("2026-01-02T08:00:00Z")
    )
    first = store.get_event(MAYA, "ev1")
    assert first["kind"] == "calendar#event" and first["created"] == first["updated"] == "2026-01-02T08:00:00.000Z"
    assert first["sequence"] == 0 and first["etag"] != '"x"' and first["etag"].startswith('"')
    store.update([MAYA], "ev1", {"summary": "Renamed"}, at=t("2026-01-03T08:00:00Z"))
    second = store.get_event(MAYA, "ev1")
    assert second["updated"] == "2026-01-03T08:00:00.000Z" and second["created"] == first["created"]
    assert second["etag"] != first["etag"] and second["sequence"] == 0  # a title is no reschedule
    store.update([MAYA], "ev1", {"start": {"dateTime": "2026-01-05T11:00:00+01:00"}}, at=t("2026-01-04T08:00:00Z"))
    third = store.get_event(MAYA, "ev1")
    assert third["sequence"] == 1
    assert third["start"] == {"dateTime": "2026-01-05T11:00:00+01:00", "timeZone": "Europe/Berlin"}  # merged


def test_recurring_event_needs_a_time_zone_and_ids_are_unique() -> None:
    store = google_store()
    event = google_event(recurrence=WEEKLY)
    del event["start"]["timeZone"]
    with pytest.raises(GoogleApiError) as err:
        store.create([MAYA], event, at=t("2026-01-02T08:00:00Z"))
    assert err.value.status == 400
    store.create([MAYA], google_event(), at=t("2026-01-02T08:00:00Z"))
    with pytest.raises(GoogleApiError) as dup:
        store.create([MAYA], google_event(), at=t("2026-01-02T09:00:00Z"))
    assert dup.value.status == 409 and dup.value.reason == "duplicate"


def test_delete_keeps_a_cancelled_resource() -> None:
    store = google_store()
    store.create([MAYA, LI], google_event(), at=t("2026-01-02T08:00:00Z"))
    store.delete([MAYA, LI], "ev1", at=t("2026-01-03T08:00:00Z"))
    gone = store.get_event(LI, "ev1")
    assert gone["status"] == "cancelled" and gone["updated"] == "2026-01-03T08:00:00.000Z"
    with pytest.raises(GoogleApiError) as err:
        store.delete([MAYA], "ev1", at=t("2026-01-04T08:00:00Z"))
    assert err.value.status == 410


def test_cancelled_occurrence_is_a_stub_with_the_utc_slot_in_its_id() -> None:
    store = google_store()
    store.create([MAYA, LI], google_event(recurrence=WEEKLY), at=t("2026-01-02T08:00:00Z"))
    # 09:00 UTC in winter, 08:00 UTC after the switch to summer time.
    store.cancel_occurrence([MAYA, LI], "ev1", t("2026-03-30T08:00:00Z"), at=t("2026-03-27T08:00:00Z"))
    stub = store.get_event(LI, "ev1_20260330T080000Z")
    assert set(stub) == {"kind", "etag", "id", "status", "recurringEventId", "originalStartTime", "updated"}
    assert stub["status"] == "cancelled" and stub["recurringEventId"] == "ev1"
    assert stub["originalStartTime"] == {"dateTime": "2026-03-30T10:00:00+02:00", "timeZone": "Europe/Berlin"}
    with pytest.raises(GoogleApiError) as err:  # no such slot: Google answers 404
        store.cancel_occurrence([MAYA], "ev1", t("2026-03-31T08:00:00Z"), at=t("2026-03-27T08:00:00Z"))
    assert err.value.status == 404


def test_cancelled_all_day_occurrence_id() -> None:
    store = google_store()
    event = google_event("allday", recurrence=["RRULE:FREQ=DAILY;COUNT=5"])
    event["start"], event["end"] = {"date": "2026-01-26"}, {"date": "2026-01-27"}
    store.create([MAYA], event, at=t("2026-01-02T08:00:00Z"))
    store.cancel_occurrence([MAYA], "allday", t("2026-01-28T00:00:00Z"), at=t("2026-01-20T08:00:00Z"))
    stub = store.get_event(MAYA, "allday_20260128")
    assert stub["originalStartTime"] == {"date": "2026-01-28"} and stub["status"] == "cancelled"


def test_moved_occurrence_keeps_its_id_and_carries_the_master_fields() -> None:
    store = google_store()
    store.create([MAYA, LI], google_event(recurrence=WEEKLY), at=t("2026-01-02T08:00:00Z"))
    new_start = {"dateTime": "2026-01-13T15:00:00+01:00", "timeZone": "Europe/Berlin"}
    new_end = {"dateTime": "2026-01-13T15:30:00+01:00", "timeZone": "Europe/Berlin"}
    store.move_occurrence(
        [MAYA, LI], "ev1", t("2026-01-12T09:00:00Z"), new_start, new_end, at=t("2026-01-10T08:00:00Z")
    )
    moved = store.get_event(MAYA, "ev1_20260112T090000Z")
    assert moved["recurringEventId"] == "ev1" and moved["start"] == new_start and moved["end"] == new_end
    assert moved["originalStartTime"] == {"dateTime": "2026-01-12T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert moved["summary"] == "Maya / Li 1:1" and moved["iCalUID"] == "ev1@google.com" and "recurrence" not in moved
    # Moving it again keeps the same id; cancelling it turns it into a stub.
    store.move_occurrence(
        [MAYA],
        "ev1",
        t("2026-01-12T09:00:00Z"),
        new_end,
        {"dateTime": "2026-01-13T16:00:00+01:00", "timeZone": "Europe/Berlin"},
        at=t("2026-01-11T08:00:00Z"),
    )
    assert store.get_event(MAYA, "ev1_20260112T090000Z")["start"] == new_end
    store.cancel_occurrence([MAYA], "ev1", t("2026-01-12T09:00:00Z"), at=t("2026-01-11T09:00:00Z"))
    assert "start" not in store.get_event(MAYA, "ev1_20260112T090000Z")


def test_respond_to_the_series_or_one_occurrence() -> None:
    store = google_store()
    store.create([MAYA, LI], google_event(recurrence=WEEKLY), at=t("2026-01-02T08:00:00Z"))
    store.respond(
        [MAYA, LI], "ev1", LI, "declined", at=t("2026-01-03T08:00:00Z"), original_start=t("2026-01-19T09:00:00Z")
    )
    one = store.get_event(LI, "ev1_20260119T090000Z")
    assert one["attendees"][1]["responseStatus"] == "declined"
    assert one["start"] == {"dateTime": "2026-01-19T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert store.get_event(LI, "ev1")["attendees"][1]["responseStatus"] == "needsAction"
    store.respond([MAYA, LI], "ev1", LI, "accepted", at=t("2026-01-04T08:00:00Z"))
    assert store.get_event(MAYA, "ev1")["attendees"][1]["responseStatus"] == "accepted"
    assert store.get_event(MAYA, "ev1_20260119T090000Z")["attendees"][1]["responseStatus"] == "accepted"
    with pytest.raises(ScenarioError):
        store.respond([MAYA], "ev1", OMAR, "accepted", at=t("2026-01-04T08:00:00Z"))


def test_series_split_ends_the_old_series_and_drops_its_later_exceptions() -> None:
    store = google_store()
    store.create([MAYA, LI], google_event(recurrence=WEEKLY), at=t("2026-01-02T08:00:00Z"))
    store.respond(
        [MAYA, LI], "ev1", LI, "tentative", at=t("2026-01-03T08:00:00Z"), original_start=t("2026-02-16T09:00:00Z")
    )
    store.respond(
        [MAYA, LI], "ev1", LI, "tentative", at=t("2026-01-03T08:00:00Z"), original_start=t("2026-01-26T09:00:00Z")
    )
    _, token, _ = google_drain(store, LI, show_deleted=True)
    store.update(
        [MAYA, LI],
        "ev1",
        {"recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260208T225959Z"]},
        at=t("2026-02-03T12:00:00Z"),
    )
    store.create(
        [MAYA, LI],
        google_event(
            "ev1_R20260209T090000",
            start="2026-02-10T11:00:00+01:00",
            end="2026-02-10T11:30:00+01:00",
            recurrence=["RRULE:FREQ=WEEKLY;BYDAY=TU"],
        ),
        at=t("2026-02-03T12:00:00Z"),
    )
    items, _, _ = google_drain(store, LI, sync_token=token)
    by_id = {i["id"]: i for i in items}
    assert by_id["ev1"]["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260208T225959Z"]
    assert by_id["ev1"]["sequence"] == 1
    assert by_id["ev1_20260216T090000Z"]["status"] == "cancelled"  # past the new end
    assert "ev1_20260126T090000Z" not in by_id  # before it: untouched
    assert by_id["ev1_R20260209T090000"]["status"] == "confirmed"


def test_deleting_a_series_cancels_its_exceptions() -> None:
    store = google_store()
    store.create([MAYA], google_event(recurrence=WEEKLY), at=t("2026-01-02T08:00:00Z"))
    store.respond([MAYA], "ev1", LI, "declined", at=t("2026-01-03T08:00:00Z"), original_start=t("2026-01-19T09:00:00Z"))
    store.delete([MAYA], "ev1", at=t("2026-01-05T08:00:00Z"))
    assert store.get_event(MAYA, "ev1")["status"] == "cancelled"
    assert store.get_event(MAYA, "ev1_20260119T090000Z")["status"] == "cancelled"


def test_apply_reads_scenario_ops() -> None:
    store = google_store()
    store.apply(
        {
            "at": "2026-01-02T08:00:00Z",
            "op": "create",
            "provider": "google",
            "calendars": [MAYA, LI],
            "event": google_event(recurrence=WEEKLY),
        }
    )
    store.apply(
        {
            "at": "2026-01-03T08:00:00Z",
            "op": "cancel_occurrence",
            "provider": "google",
            "calendars": [MAYA, LI],
            "event_id": "ev1",
            "original_start": "2026-01-12T09:00:00Z",
        }
    )
    assert store.get_event(LI, "ev1_20260112T090000Z")["status"] == "cancelled"
    with pytest.raises(ScenarioError):
        store.apply({"at": "2026-01-03T08:00:00Z", "op": "explode", "calendars": [MAYA]})


def test_deleting_an_instance_id_cancels_that_instance() -> None:
    store = google_store()
    store.create([MAYA], google_event(recurrence=WEEKLY), at=t("2026-01-02T08:00:00Z"))
    store.delete([MAYA], "ev1_20260119T090000Z", at=t("2026-01-05T08:00:00Z"))
    stub = store.get_event(MAYA, "ev1_20260119T090000Z")
    assert stub["status"] == "cancelled" and list(stub)[:3] == ["kind", "etag", "id"]
    assert store.get_event(MAYA, "ev1")["status"] == "confirmed"
    with pytest.raises(GoogleApiError) as err:
        store.delete([MAYA], "ev1_20260120T090000Z", at=t("2026-01-05T08:00:00Z"))  # no such slot
    assert err.value.status == 404


def test_seed_stores_resources_as_given_in_order() -> None:
    store = google_store()
    first = {**google_event("a"), "updated": "2026-01-03T10:00:00.000Z", "etag": '"1"', "sequence": 4}
    second = {**google_event("b"), "updated": "2026-01-02T10:00:00.000Z", "etag": '"2"'}
    assert store.seed(MAYA, [first, second]) == 2
    items, token, pages = google_drain(store, MAYA, show_deleted=True)
    assert [(i["id"], i["updated"], i["etag"]) for i in items] == [
        ("a", "2026-01-03T10:00:00.000Z", '"1"'),
        ("b", "2026-01-02T10:00:00.000Z", '"2"'),
    ]
    assert items[0]["sequence"] == 4 and pages[0]["updated"] == "2026-01-03T10:00:00.000Z"
    store.create([MAYA], google_event("c"), at=t("2026-01-04T08:00:00Z"))  # later changes come incrementally
    assert [i["id"] for i in store.list_events(MAYA, sync_token=token)["items"]] == ["c"]
