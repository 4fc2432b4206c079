"""The event loop for long-running loops (the worker, replays, the fakes'
notifier): uvloop where it is installed (uvicorn[standard] brings it on
Linux/macOS; uvicorn already serves the API on it), asyncio's own otherwise.
A replay spends its time in HTTP round trips and callbacks, where uvloop's
are markedly cheaper."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

try:
    import uvloop
except ImportError:  # e.g. Windows: the standard loop works the same, slower
    uvloop = None


def new_event_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
