"""The connect flow's signed state: whatever arrives as `state` is refused with
InvalidState, never another exception (the callback would answer 500)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.security import connect_state
from service.security.crypto import generate_key

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEYS = generate_key()


def test_a_state_round_trips():
    state = connect_state.sign(KEYS, 7, "google", NOW)
    assert state.isascii()
    verified = connect_state.verify(KEYS, state, "google", NOW)
    assert (verified.person_id, verified.provider) == (7, "google")


def _hostile() -> list[str]:
    good = connect_state.sign(KEYS, 7, "google", NOW)
    payload, _, mac = good.rpartition(".")
    return [
        "\u00e4",  # ?state=%C3%A4
        "\udcff",  # a lone surrogate (undecodable bytes read with surrogateescape)
        good + "\u00e4",
        f"{payload}.{mac[:-1]}\u00e4",  # a MAC of the right length, one character not ASCII
        f"{payload}\u00e4.{mac}",
        "\u00e4" * connect_state.MAX_LENGTH,
        "\u00e4" * (connect_state.MAX_LENGTH + 1),
        "x" * (connect_state.MAX_LENGTH + 1),
        "\x00",
        f"{payload}.{mac}\x00",
        ".",
        "....",
    ]


@pytest.mark.parametrize("state", _hostile(), ids=lambda s: repr(s)[:24])
def test_hostile_states_are_invalid_not_errors(state):
    with pytest.raises(connect_state.InvalidState):
        connect_state.verify(KEYS, state, "google", NOW)
