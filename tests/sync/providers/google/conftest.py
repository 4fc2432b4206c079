"""Fixtures of the Google adapter tests (see world.py)."""

from __future__ import annotations

import pytest

from service.sync.providers.google.adapter import GoogleCalendarProvider
from service.sync.providers.google.http import RetryPolicy
from tests.sync.providers.google.world import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox()
    yield box
    box.server.stop()
    box.fake.notifier.close()


@pytest.fixture
def world(sandbox: Sandbox):
    sandbox.recorder.requests.clear()
    sandbox.recorder.clients.clear()
    yield sandbox
    sandbox.fake.faults.reset()
    sandbox.store.page_cap = None


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def provider(world: Sandbox, sleeps: list[float]) -> GoogleCalendarProvider:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    # rng 0: the backoff schedule is exactly 1, 2, 4 s, so tests can assert it.
    return GoogleCalendarProvider(
        world.settings,
        clock=world.clock,
        sleep=sleep,
        rng=lambda: 0.0,
        retry=RetryPolicy(attempts=4, base=1.0, cap=16.0, jitter=1.0),
    )
