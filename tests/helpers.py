"""Small async helpers shared by the tests."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from runtime.lifecycle import Service

Check = Callable[[], object | Awaitable[object]]


async def eventually(check: Check, limit: float = 30.0) -> None:
    """Wait until ``check()`` (sync or async) is true; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(service: Service) -> AsyncIterator[None]:
    """Run a service (``async with`` + ``run(stop)``) in the background for the block; stop it
    and let it drain after."""
    stop = asyncio.Event()
    async with service:
        task = asyncio.create_task(service.run(stop))
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


#: Spellings of a path that must never get around an edge's rules (encoded letters, dot
#: segments, doubled slashes, absolute forms, an encoded slash before ``stream``): every edge's
#: tests run them.
SPELLINGS = [
    "/%6detrics",
    "/metric%73",
    "http://x/metrics",
    "https://x/metrics?a=1",
    "/v1/../metrics",
    "//metrics",
    "/v1/games/g1%2fstream",
    "/v1/games/g1/%73tream",
]
