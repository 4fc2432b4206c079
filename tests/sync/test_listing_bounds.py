"""ListingBounds: what ends a listing that would otherwise hold ever more events."""

from __future__ import annotations

import pytest

from service.sync.port import ListingBounds, ListingTooLong


def test_a_repeated_page_token_is_a_loop_at_once():
    bounds = ListingBounds("op")
    bounds.page(10, "a")
    bounds.page(10, "b")
    with pytest.raises(ListingTooLong, match="repeated a page token \\(page 3\\)"):
        bounds.page(0, "a")


def test_events_and_pages_are_bounded_separately():
    bounds = ListingBounds("op", max_events=25, max_pages=1000)
    bounds.page(25, "a")
    with pytest.raises(ListingTooLong, match="more than 25 events"):
        bounds.page(1, None)
    empty = ListingBounds("op", max_events=25, max_pages=3)
    for token in ("a", "b", None):
        empty.page(0, token)
    with pytest.raises(ListingTooLong):
        empty.page(0, "c")
    assert ListingTooLong("x").transient
