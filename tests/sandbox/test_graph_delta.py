"""GraphStore.calendar_view_delta: windows, pages, stubs, @removed, tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.sandbox import GraphApiError
from service.sandbox.graph_view import occurrence_id
from tests.sandbox.builders import LI, MAYA, graph_drain, graph_event, graph_store, link_token, t

AT = t("2026-01-02T08:00:00Z")
MASTER = "AAMkAGev1AAA="
WINDOW = {"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}  # 8 Mondays


def _weekly(store, **rng) -> None:
    store.create([MAYA], graph_event(pattern={}, rng=rng or None), at=AT)


def test_first_round_lists_instances_never_masters_with_stubs() -> None:
    store = graph_store()
    _weekly(store)
    store.create(
        [MAYA], graph_event("AAMkOne=", start="2026-01-07T12:00:00.0000000", end="2026-01-07T13:00:00.0000000"), at=AT
    )
    items, _, _ = graph_drain(store, MAYA, max_page_size=100, **WINDOW)
    assert MASTER not in {i["id"] for i in items}
    occurrences = [i for i in items if i["type"] == "occurrence"]
    assert len(occurrences) == 8 and len(items) == 9
    stub = occurrences[0]
    assert set(stub) == {"@odata.type", "id", "type", "seriesMasterId", "originalStart", "start", "end"}
    assert stub["seriesMasterId"] == MASTER and stub["originalStart"] == "2026-01-05T08:00:00Z"
    assert stub["start"] == {"dateTime": "2026-01-05T08:00:00.0000000", "timeZone": "UTC"}
    single = next(i for i in items if i["type"] == "singleInstance")
    assert single["subject"] == "Maya / Li 1:1" and "uid" not in single


def test_full_occurrences_when_stubs_are_off_and_prefer_zone() -> None:
    store = graph_store(stub_occurrences=False)
    _weekly(store)
    items, _, _ = graph_drain(store, MAYA, max_page_size=100, prefer_timezone="Pacific Standard Time", **WINDOW)
    assert all(i["subject"] == "Maya / Li 1:1" for i in items)
    assert items[0]["start"] == {"dateTime": "2026-01-05T00:00:00.0000000", "timeZone": "Pacific Standard Time"}


@pytest.mark.parametrize(("size", "pages"), [(1, 8), (3, 3), (4, 2), (8, 1), (50, 1)])
def test_paging_boundaries(size: int, pages: int) -> None:
    store = graph_store()
    _weekly(store)
    items, token, got = graph_drain(store, MAYA, max_page_size=size, **WINDOW)
    assert len(got) == pages and len(items) == 8 and len({i["id"] for i in items}) == 8
    for page in got[:-1]:
        assert "@odata.nextLink" in page and "@odata.deltaLink" not in page and len(page["value"]) == size
        assert "$skiptoken=" in page["@odata.nextLink"]
    assert "@odata.deltaLink" in got[-1] and "@odata.nextLink" not in got[-1] and token


def test_default_page_size_and_missing_window() -> None:
    store = graph_store()
    store.create([MAYA], graph_event(pattern={"type": "daily"}), at=AT)
    page = store.calendar_view_delta(MAYA, **WINDOW)
    assert len(page["value"]) == 10 and "@odata.nextLink" in page
    with pytest.raises(GraphApiError) as err:
        store.calendar_view_delta(MAYA)
    assert err.value.status == 400


def test_delta_link_returns_only_changes() -> None:
    store = graph_store(MAYA, LI)
    _weekly(store)
    store.create([LI], graph_event("AAMkLI="), at=AT)
    _, token, _ = graph_drain(store, MAYA, **WINDOW)
    assert graph_drain(store, MAYA, delta_token=token)[0] == []
    store.create(
        [MAYA],
        graph_event("AAMkOne=", start="2026-01-07T12:00:00.0000000", end="2026-01-07T13:00:00.0000000"),
        at=t("2026-01-03T08:00:00Z"),
    )
    store.update([LI], "AAMkLI=", {"subject": "other mailbox"}, at=t("2026-01-03T08:00:00Z"))
    items, token2, _ = graph_drain(store, MAYA, delta_token=token)
    assert [i["id"] for i in items] == ["AAMkOne="]
    assert graph_drain(store, MAYA, delta_token=token2)[0] == []


def test_a_mailbox_keeps_its_last_delta_tokens_only() -> None:
    """Graph lets old delta tokens expire: the fake keeps a mailbox's last KEPT_ROUNDS
    (another mailbox's rounds do not push them out)."""
    from service.sandbox.graph_delta import KEPT_ROUNDS

    store = graph_store(MAYA, LI)
    _weekly(store)
    _, first, _ = graph_drain(store, MAYA, **WINDOW)
    _, other, _ = graph_drain(store, LI, **WINDOW)
    token = first
    for _ in range(KEPT_ROUNDS - 1):
        token = graph_drain(store, MAYA, delta_token=token)[1]
    assert graph_drain(store, MAYA, delta_token=first)[0] == []  # still among the last ones
    with pytest.raises(GraphApiError) as err:
        graph_drain(store, MAYA, delta_token=first)  # one round later: expired
    assert (err.value.status, err.value.code) == (410, "syncStateNotFound")
    assert graph_drain(store, MAYA, delta_token=token)[0] == []
    assert graph_drain(store, LI, delta_token=other)[0] == []


def test_cancel_occurrence_is_removed_and_master_change_resends_occurrences() -> None:
    store = graph_store()
    _weekly(store)
    first, token, _ = graph_drain(store, MAYA, **WINDOW)
    store.cancel_occurrence([MAYA], MASTER, t("2026-01-12T08:00:00Z"), at=t("2026-01-08T08:00:00Z"))
    items, _, _ = graph_drain(store, MAYA, delta_token=token, max_page_size=100)
    listed = {i["id"] for i in first}  # the rest are the series' occurrences outside the window
    removed = [i for i in items if "@removed" in i and i["id"] in listed]
    assert removed == [
        {
            "@odata.type": "#microsoft.graph.event",
            "id": occurrence_id(MASTER, t("2026-01-12T08:00:00Z")),
            "@removed": {"reason": "deleted"},
        }
    ]
    # The master changed, so Graph sends its other occurrences again.
    assert len([i for i in items if i.get("type") == "occurrence"]) == 7


def test_delete_series_removes_every_instance() -> None:
    store = graph_store()
    _weekly(store)
    store.respond([MAYA], MASTER, LI, "declined", at=AT, original_start=t("2026-01-19T08:00:00Z"))
    first, token, _ = graph_drain(store, MAYA, max_page_size=100, **WINDOW)
    assert [i["type"] for i in first].count("exception") == 1
    store.delete([MAYA], MASTER, at=t("2026-01-09T08:00:00Z"))
    items, _, _ = graph_drain(store, MAYA, delta_token=token, max_page_size=100)
    assert sorted(i["id"] for i in items) == sorted(i["id"] for i in first)
    assert all(i["@removed"] == {"reason": "deleted"} for i in items)


def test_occurrence_ids_are_stable_and_exceptions_keep_them() -> None:
    store = graph_store()
    _weekly(store)
    first, token, _ = graph_drain(store, MAYA, max_page_size=100, **WINDOW)
    store.move_occurrence(
        [MAYA],
        MASTER,
        t("2026-01-12T08:00:00Z"),
        {"dateTime": "2026-01-12T15:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        {"dateTime": "2026-01-12T15:30:00.0000000", "timeZone": "W. Europe Standard Time"},
        at=t("2026-01-10T08:00:00Z"),
    )
    again, _, _ = graph_drain(store, MAYA, delta_token=token, max_page_size=100)
    again = [i for i in again if "@removed" not in i]  # those outside the window (the series changed)
    assert {i["id"] for i in again} == {i["id"] for i in first}
    moved = next(i for i in again if i["type"] == "exception")
    assert moved["id"] == occurrence_id(MASTER, t("2026-01-12T08:00:00Z"))
    assert moved["start"]["dateTime"] == "2026-01-12T14:00:00.0000000" and moved["subject"] == "Maya / Li 1:1"


def test_window_is_fixed_by_the_first_request() -> None:
    store = graph_store()
    _, token, _ = graph_drain(store, MAYA, **WINDOW)
    store.create(
        [MAYA], graph_event("AAMkLate=", start="2026-04-06T09:00:00.0000000", end="2026-04-06T09:30:00.0000000"), at=AT
    )
    # A later window in the call is ignored: the token's window rules. An event added
    # outside it comes only as a removal (Graph's warning: filter removals by date).
    items, _, _ = graph_drain(store, MAYA, delta_token=token, start="2026-03-01T00:00:00Z", end="2026-06-01T00:00:00Z")
    assert items == [{"@odata.type": "#microsoft.graph.event", "id": "AAMkLate=", "@removed": {"reason": "deleted"}}]
    assert graph_drain(store, MAYA, delta_token=token)[0] == items  # the same round again: the same answer


def test_item_moved_out_of_the_window_is_removed_as_deleted() -> None:
    store = graph_store()
    store.create([MAYA], graph_event("AAMkOne="), at=AT)
    _, token, _ = graph_drain(store, MAYA, **WINDOW)
    store.update(
        [MAYA],
        "AAMkOne=",
        {
            "start": {"dateTime": "2026-05-04T09:00:00.0000000", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2026-05-04T09:30:00.0000000", "timeZone": "W. Europe Standard Time"},
        },
        at=t("2026-01-03T08:00:00Z"),
    )
    items, _, _ = graph_drain(store, MAYA, delta_token=token)
    # It still exists (GET answers it), yet the removal says "deleted": only a look can tell.
    assert items == [{"@odata.type": "#microsoft.graph.event", "id": "AAMkOne=", "@removed": {"reason": "deleted"}}]
    assert store.get_event(MAYA, "AAMkOne=")["start"]["dateTime"].startswith("2026-05-04")


def test_a_series_edit_removes_its_occurrences_outside_the_window_too() -> None:
    store = graph_store()
    _weekly(store)  # Mondays from 2026-01-05
    later = {"start": "2026-02-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}  # a window taken later
    listed, token, _ = graph_drain(store, MAYA, max_page_size=100, **later)
    store.update([MAYA], MASTER, {"subject": "Maya / Li weekly"}, at=t("2026-02-03T08:00:00Z"))
    items, _, _ = graph_drain(store, MAYA, delta_token=token, max_page_size=100)
    removed = {i["id"] for i in items if "@removed" in i}
    assert all(i["@removed"] == {"reason": "deleted"} for i in items if "@removed" in i)
    january = {occurrence_id(MASTER, t(f"2026-01-{d:02d}T08:00:00Z")) for d in (5, 12, 19, 26)}
    assert january <= removed  # before the window, still there: Graph names them all the same
    assert not removed & {i["id"] for i in listed}  # the window's own come again, changed
    assert all(store.get_event(MAYA, i) for i in january)
    assert graph_drain(store, MAYA, delta_token=graph_drain(store, MAYA, delta_token=token)[1])[0] == []
    store.out_of_window_span = timedelta(0)  # the knob: no such removals
    store.update([MAYA], MASTER, {"subject": "Maya / Li 1:1"}, at=t("2026-02-04T08:00:00Z"))
    assert not [i for i in graph_drain(store, MAYA, delta_token=token)[0] if "@removed" in i]


@pytest.mark.parametrize(
    ("rng", "count"),
    [({"type": "numbered", "numberOfOccurrences": 3}, 3), ({"type": "endDate", "endDate": "2026-01-26"}, 4)],
)
def test_numbered_and_end_date_ranges(rng: dict, count: int) -> None:
    store = graph_store()
    _weekly(store, **rng)
    items, _, _ = graph_drain(store, MAYA, max_page_size=100, **WINDOW)
    assert len(items) == count


def test_relative_monthly_series_across_dst() -> None:
    store = graph_store()
    store.create(
        [MAYA],
        graph_event(
            pattern={"type": "relativeMonthly", "daysOfWeek": ["tuesday"], "index": "second"},
            start="2026-01-13T09:00:00.0000000",
            end="2026-01-13T09:30:00.0000000",
        ),
        at=AT,
    )
    items, _, _ = graph_drain(store, MAYA, max_page_size=100, start="2026-01-01T00:00:00Z", end="2026-06-01T00:00:00Z")
    assert [i["originalStart"] for i in items] == [
        "2026-01-13T08:00:00Z",
        "2026-02-10T08:00:00Z",
        "2026-03-10T08:00:00Z",
        "2026-04-14T07:00:00Z",
        "2026-05-12T07:00:00Z",
    ]


def test_invalidated_or_garbage_tokens_are_410() -> None:
    store = graph_store()
    _weekly(store)
    page = store.calendar_view_delta(MAYA, max_page_size=2, **WINDOW)
    skip = link_token(page["@odata.nextLink"], "$skiptoken")
    _, token, _ = graph_drain(store, MAYA, **WINDOW)
    store.invalidate_delta_tokens(MAYA)
    for kwargs in ({"delta_token": token}, {"skip_token": skip}, {"delta_token": "garbage"}):
        with pytest.raises(GraphApiError) as err:
            store.calendar_view_delta(MAYA, **kwargs)
        assert err.value.status == 410 and err.value.body()["error"]["code"] == "syncStateNotFound"


def test_all_day_items_keep_floating_midnights() -> None:
    store = graph_store()
    store.create(
        [MAYA],
        graph_event(
            "AAMkVac=",
            start="2026-02-19T00:00:00.0000000",
            end="2026-02-20T00:00:00.0000000",
            isAllDay=True,
            showAs="oof",
        ),
        at=AT,
    )
    items, _, _ = graph_drain(store, MAYA, prefer_utc=True, **WINDOW)
    assert items[0]["start"] == {"dateTime": "2026-02-19T00:00:00.0000000", "timeZone": "W. Europe Standard Time"}
