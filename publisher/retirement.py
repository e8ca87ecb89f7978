"""Memory that ends: finished games retire once their retention is over.

A game's final puts it in a retiring set with the time its retention ends (see
:meth:`SnapshotWriter.retire` for what it keeps). Every publisher sweeps now and then; two that
sweep the same game do the same thing twice, which is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from types import TracebackType

from core.errors import StoreUnavailableError
from core.store import SnapshotWriter

logger = logging.getLogger("scorecast.publisher")

#: Games retired per sweep at most: a sweep never holds Redis long.
PER_SWEEP = 100


class Retirement:
    """Use as ``async with Retirement(store, every)``: sweeps every ``every`` seconds inside."""

    def __init__(self, store: SnapshotWriter, every_seconds: float) -> None:
        self.store = store
        self.every_seconds = every_seconds
        self.retired = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Retirement:
        self._task = asyncio.create_task(self._sweeping(), name="retirement")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def sweep(self) -> int:
        """Retire the games due now (at most :data:`PER_SWEEP`); how many retired."""
        retired = 0
        for game_id in await self.store.retiring(time.time(), PER_SWEEP):
            if await self.store.retire(game_id):
                retired += 1
        self.retired += retired
        return retired

    async def _sweeping(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.every_seconds)
            if self._stop.is_set():
                return
            try:
                while await self.sweep() == PER_SWEEP:
                    pass  # more are due: on at once
            except StoreUnavailableError as exc:
                logger.warning("retirement sweep failed (%s); next sweep retries", exc)
