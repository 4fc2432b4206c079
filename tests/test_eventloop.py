import asyncio

import pytest

from service import eventloop


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_long_running_commands_run_on_uvloop_when_it_is_installed():
    uvloop = pytest.importorskip("uvloop")
    assert isinstance(eventloop.run(_running_loop()), uvloop.Loop)
    loop = eventloop.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
