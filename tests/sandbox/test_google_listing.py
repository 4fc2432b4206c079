"""GoogleStore.list_events: pages, sync tokens, timeMin and Google's errors."""

from __future__ import annotations

import pytest

from service.sandbox import GoogleApiError
from tests.sandbox.builders import LI, MAYA, google_drain, google_event, google_store, t

AT = t("2026-01-02T08:00:00Z")


def _singles(store, count: int, calendars=(MAYA,)) -> None:
    for n in range(count):
        store.create(
            list(calendars),
            google_event(
                f"single{n:03d}",
                start=f"2026-02-{1 + n % 27:02d}T10:00:00+01:00",
                end=f"2026-02-{1 + n % 27:02d}T10:30:00+01:00",
            ),
            at=AT,
        )


@pytest.mark.parametrize(("count", "size", "pages"), [(0, 3, 1), (5, 5, 1), (6, 3, 2), (7, 3, 3), (6, 1, 6)])
def test_paging_boundaries(count: int, size: int, pages: int) -> None:
    store = google_store()
    _singles(store, count)
    items, token, got = google_drain(store, MAYA, max_results=size)
    assert len(got) == pages and len(items) == count and len({i["id"] for i in items}) == count
    for page in got[:-1]:
        assert "nextPageToken" in page and "nextSyncToken" not in page and len(page["items"]) == size
    assert "nextSyncToken" in got[-1] and "nextPageToken" not in got[-1] and token
    assert got[0]["kind"] == "calendar#events" and got[0]["timeZone"] == "Europe/Berlin"
    assert got[0]["summary"] == MAYA and got[0]["accessRole"] == "owner"


def test_page_cap_knob_serves_fewer_items_than_asked() -> None:
    store = google_store()
    _singles(store, 5)
    store.page_cap = 2
    items, _, pages = google_drain(store, MAYA, max_results=250)
    assert len(items) == 5 and [len(p["items"]) for p in pages] == [2, 2, 1]


def test_max_results_is_capped_and_validated() -> None:
    store = google_store()
    _singles(store, 3)
    assert len(store.list_events(MAYA, max_results=100000)["items"]) == 3
    with pytest.raises(GoogleApiError) as err:
        store.list_events(MAYA, max_results=0)
    assert err.value.status == 400


def test_page_token_must_come_with_the_same_parameters() -> None:
    store = google_store()
    _singles(store, 4)
    first = store.list_events(MAYA, max_results=2, show_deleted=True)
    with pytest.raises(GoogleApiError) as err:
        store.list_events(MAYA, max_results=2, page_token=first["nextPageToken"])  # showDeleted dropped
    assert err.value.status == 400
    with pytest.raises(GoogleApiError):
        store.list_events(MAYA, page_token="garbage")
    with pytest.raises(GoogleApiError):
        store.list_events(LI, max_results=2, show_deleted=True, page_token=first["nextPageToken"])


def test_forgotten_listings_no_longer_serve_pages_but_sync_tokens_stay_valid() -> None:
    store = google_store()
    _singles(store, 4, calendars=(MAYA, LI))
    first = store.list_events(MAYA, max_results=2)
    other = store.list_events(LI, max_results=2)
    _, token, _ = google_drain(store, MAYA, max_results=4)
    store.forget_listings(MAYA.upper())
    with pytest.raises(GoogleApiError) as err:
        store.list_events(MAYA, max_results=2, page_token=first["nextPageToken"])
    assert err.value.status == 400
    assert store.list_events(MAYA, sync_token=token)["items"] == []
    assert len(store.list_events(LI, max_results=2, page_token=other["nextPageToken"])["items"]) == 2  # kept


def test_sync_token_with_restrictions_is_400() -> None:
    store = google_store()
    _, token, _ = google_drain(store, MAYA)
    for restriction in (
        {"time_min": "2026-01-01T00:00:00Z"},
        {"time_max": "2026-01-01T00:00:00Z"},
        {"updated_min": "2026-01-01T00:00:00Z"},
        {"q": "1:1"},
        {"order_by": "updated"},
        {"i_cal_uid": "x@google.com"},
    ):
        with pytest.raises(GoogleApiError) as err:
            store.list_events(MAYA, sync_token=token, **restriction)
        assert err.value.status == 400 and err.value.reason == "syncTokenWithRequestRestrictions"
        assert err.value.body()["error"]["errors"][0]["domain"] == "calendar"


def test_expired_or_foreign_sync_token_is_410() -> None:
    store = google_store()
    _, token, _ = google_drain(store, MAYA)
    _, li_token, _ = google_drain(store, LI)
    for bad in ("not-a-token", li_token):
        with pytest.raises(GoogleApiError) as err:
            store.list_events(MAYA, sync_token=bad)
        assert err.value.status == 410 and err.value.reason == "fullSyncRequired"
    store.expire_sync_tokens(MAYA)
    with pytest.raises(GoogleApiError) as err:
        store.list_events(MAYA, sync_token=token)
    assert err.value.body() == {
        "error": {
            "errors": [{"domain": "calendar", "reason": "fullSyncRequired", "message": err.value.message}],
            "code": 410,
            "message": err.value.message,
        }
    }
    _, fresh, _ = google_drain(store, MAYA)  # a full sync hands out a working token again
    assert store.list_events(MAYA, sync_token=fresh)["items"] == []


def test_incremental_returns_every_change_of_any_date_including_cancelled() -> None:
    store = google_store()
    store.create([MAYA], google_event("old", start="2025-03-01T10:00:00+01:00", end="2025-03-01T11:00:00+01:00"), at=AT)
    items, token, _ = google_drain(store, MAYA, time_min="2025-12-01T00:00:00Z", show_deleted=True)
    assert items == []  # ended before timeMin
    assert google_drain(store, MAYA, sync_token=token)[0] == []
    store.update([MAYA], "old", {"summary": "edited"}, at=t("2026-01-03T08:00:00Z"))
    store.create(
        [MAYA],
        google_event("new", start="2027-06-01T10:00:00+02:00", end="2027-06-01T11:00:00+02:00"),
        at=t("2026-01-03T09:00:00Z"),
    )
    store.delete([MAYA], "new", at=t("2026-01-03T10:00:00Z"))
    items, token2, _ = google_drain(store, MAYA, sync_token=token)  # show_deleted defaults to False
    assert [(i["id"], i["status"]) for i in items] == [("old", "confirmed"), ("new", "cancelled")]
    assert google_drain(store, MAYA, sync_token=token2)[0] == []


def test_changes_between_pages_come_with_the_next_increment() -> None:
    store = google_store()
    _singles(store, 4)
    first = store.list_events(MAYA, max_results=2)
    store.update([MAYA], "single000", {"summary": "changed meanwhile"}, at=t("2026-01-03T08:00:00Z"))
    last = store.list_events(MAYA, max_results=2, page_token=first["nextPageToken"])
    assert {i["id"] for i in first["items"] + last["items"]} == {f"single{n:03d}" for n in range(4)}
    changed = store.list_events(MAYA, sync_token=last["nextSyncToken"])["items"]
    assert [(i["id"], i["summary"]) for i in changed] == [("single000", "changed meanwhile")]


def test_time_min_keeps_series_with_instances_after_it() -> None:
    store = google_store()
    store.create(
        [MAYA],
        google_event(
            "open",
            start="2025-01-06T10:00:00+01:00",
            end="2025-01-06T10:30:00+01:00",
            recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO"],
        ),
        at=AT,
    )
    store.create(
        [MAYA],
        google_event(
            "ended",
            start="2025-01-06T10:00:00+01:00",
            end="2025-01-06T10:30:00+01:00",
            recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4"],
        ),
        at=AT,
    )
    store.create(
        [MAYA],
        google_event(
            "until",
            start="2025-01-06T10:00:00+01:00",
            end="2025-01-06T10:30:00+01:00",
            recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260112T235959Z"],
        ),
        at=AT,
    )
    store.create(
        [MAYA], google_event("overlap", start="2025-12-31T23:00:00+01:00", end="2026-01-01T02:00:00+01:00"), at=AT
    )
    store.create(
        [MAYA], google_event("touching", start="2025-12-31T23:00:00+01:00", end="2026-01-01T01:00:00+01:00"), at=AT
    )
    items, _, _ = google_drain(store, MAYA, time_min="2026-01-01T00:00:00Z")
    assert {i["id"] for i in items} == {"open", "until", "overlap"}  # end must be after timeMin


def test_show_deleted_false_hides_deleted_events_but_not_cancelled_instances() -> None:
    store = google_store()
    store.create([MAYA], google_event("series", recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO"]), at=AT)
    store.create([MAYA], google_event("gone"), at=AT)
    store.delete([MAYA], "gone", at=AT)
    store.cancel_occurrence([MAYA], "series", t("2026-01-12T09:00:00Z"), at=AT)
    hidden, _, _ = google_drain(store, MAYA)
    assert {i["id"] for i in hidden} == {"series", "series_20260112T090000Z"}
    shown, _, _ = google_drain(store, MAYA, show_deleted=True)
    assert {i["id"] for i in shown} == {"series", "series_20260112T090000Z", "gone"}


def test_single_events_expands_series() -> None:
    store = google_store()
    store.create([MAYA], google_event("series", recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3"]), at=AT)
    store.cancel_occurrence([MAYA], "series", t("2026-01-12T09:00:00Z"), at=AT)
    items, _, _ = google_drain(store, MAYA, single_events=True, order_by="startTime")
    assert [i["id"] for i in items] == ["series_20260105T090000Z", "series_20260119T090000Z"]
    assert all(i["recurringEventId"] == "series" and "recurrence" not in i for i in items)
    with pytest.raises(GoogleApiError):
        store.list_events(MAYA, order_by="startTime")  # needs singleEvents


def test_unknown_calendar_is_404() -> None:
    with pytest.raises(GoogleApiError) as err:
        google_store().list_events("nobody@acme.test")
    assert err.value.status == 404


def test_updated_min_includes_recent_deletions() -> None:
    store = google_store()
    store.create([MAYA], google_event("kept"), at=AT)
    store.create([MAYA], google_event("gone"), at=AT)
    store.delete([MAYA], "gone", at=t("2026-01-10T08:00:00Z"))
    items, _, _ = google_drain(store, MAYA, updated_min="2026-01-05T00:00:00Z")
    assert [(i["id"], i["status"]) for i in items] == [("gone", "cancelled")]
