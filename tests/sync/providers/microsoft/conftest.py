"""The fake Graph + Entra server shared by a module's adapter tests, and an adapter on it."""

from __future__ import annotations

import pytest

from service.sync.providers.microsoft.adapter import GraphCalendarProvider
from tests.sync.graph_sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox()
    yield box
    box.server.stop()
    box.receiver.server.stop()
    box.fake.notifier.close()
    box.login.close()


@pytest.fixture
def world(sandbox: Sandbox):
    sandbox.recorder.calls.clear()
    yield sandbox
    sandbox.fake.faults.reset()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def provider(world: Sandbox, sleeps: list[float]):
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    adapter = GraphCalendarProvider(
        world.settings, clock=world.clock, msal_http_client=world.login, sleep=sleep, page_size=4
    )
    yield adapter
    await adapter.aclose()
