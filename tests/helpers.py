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
