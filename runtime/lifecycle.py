"""The one way every Scorecast service starts and stops.

A service is an async context manager that owns its resources (clients, consumers, servers,
background tasks). :meth:`Service.start` takes them, registering each on the exit stack it is
given, so that a start that fails half-way gives back what it took, and leaving the block gives
back the rest in reverse order. A service runs once: entering it again is refused, as httpx
refuses a closed client. Its ``run(stop)`` works until ``stop`` is set, then finishes what it is
doing and returns. :func:`serve` runs one until SIGTERM or SIGINT, gives it its
``drain_seconds`` to finish, then cancels it with a message: the one drain clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import signal
from types import TracebackType
from typing import Self

from core.errors import ServiceError
from runtime.collector import settle

logger = logging.getLogger("scorecast.lifecycle")


class ServiceState(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class Service:
    """``async with service: await service.run(stop)``: the shape of every Scorecast service."""

    #: How long ``run`` may take to finish its work once ``stop`` is set (see :func:`serve`).
    drain_seconds: float = 10.0
    #: Whether the block the service ran in ended with an error (read by ``start``'s callbacks:
    #: the publisher commits nothing then).
    failed: bool = False
    _state: ServiceState = ServiceState.UNOPENED
    _resources: contextlib.AsyncExitStack | None = None

    async def start(self, resources: contextlib.AsyncExitStack) -> None:
        """Take what ``run`` needs; register each resource on ``resources`` as it is taken."""

    async def run(self, stop: asyncio.Event) -> None:
        raise NotImplementedError

    @property
    def state(self) -> ServiceState:
        return self._state

    async def __aenter__(self) -> Self:
        if self._state is not ServiceState.UNOPENED:
            raise ServiceError(f"{type(self).__name__} runs once: build a new one to run again")
        self._state = ServiceState.OPENED
        resources = contextlib.AsyncExitStack()
        try:
            await self.start(resources)
        except BaseException:
            # Failed before its callbacks run: what they give back sees a failed service.
            self._state = ServiceState.CLOSED
            self.failed = True
            await resources.aclose()
            raise
        self._resources = resources
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = ServiceState.CLOSED
        self.failed = exc is not None
        resources, self._resources = self._resources, None
        if resources is not None:
            await resources.aclose()


def stop_on_signals() -> asyncio.Event:
    """An event SIGTERM and SIGINT set (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def serve(service: Service) -> None:
    """Run ``service`` until a signal stops it (the entry point of every service process)."""
    asyncio.run(_serve(service))


async def _serve(service: Service) -> None:
    stop = stop_on_signals()
    async with service:
        settle()  # what it took to start is frozen, its young objects collected less often
        await run_until_drained(service, stop)


async def run_until_drained(service: Service, stop: asyncio.Event) -> None:
    """``service.run(stop)``; once ``stop`` is set it has ``service.drain_seconds`` to return."""
    drain_seconds = service.drain_seconds
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
