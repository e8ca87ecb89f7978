"""The one way every Scorecast service starts and stops.

A service is an async context manager that owns its resources (clients, consumers, servers,
background tasks): :meth:`Service.start` takes them, :meth:`Service.close` gives them back.
Its ``run(stop)`` works until ``stop`` is set, then finishes what it is doing and returns.
:func:`serve` runs one until SIGTERM or SIGINT, gives it ``drain_seconds`` to finish, then
cancels it with a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from types import TracebackType
from typing import Self

logger = logging.getLogger("scorecast.lifecycle")


class Service:
    """``async with service: await service.run(stop)``: the shape of every Scorecast service."""

    async def start(self) -> None:
        """Take the resources ``run`` needs."""

    async def run(self, stop: asyncio.Event) -> None:
        raise NotImplementedError

    async def close(self, failed: bool) -> None:
        """Give every resource back; ``failed``: the block ended with an error."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close(exc is not None)


def stop_on_signals() -> asyncio.Event:
    """An event SIGTERM and SIGINT set (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def serve(service: Service, drain_seconds: float) -> None:
    """Run ``service`` until a signal stops it (the entry point of every service process)."""
    asyncio.run(_serve(service, drain_seconds))


async def _serve(service: Service, drain_seconds: float) -> None:
    stop = stop_on_signals()
    async with service:
        await run_until_drained(service, stop, drain_seconds)


async def run_until_drained(service: Service, stop: asyncio.Event, drain_seconds: float) -> None:
    """``service.run(stop)``; once ``stop`` is set it has ``drain_seconds`` to return."""
    running = asyncio.create_task(service.run(stop), name=f"{type(service).__name__}.run")
    stopping = asyncio.create_task(stop.wait(), name="stop signal")
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            done, _ = await asyncio.wait({running}, timeout=drain_seconds)
            if not done:
                logger.error("%s did not drain in %.0f s; cancelling", service, drain_seconds)
                running.cancel(f"did not drain within {drain_seconds} s")
                with contextlib.suppress(asyncio.CancelledError):
                    await running
                return
        await running
    finally:
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopping
