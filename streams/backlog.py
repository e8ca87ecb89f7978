"""The publisher's queue in front of the stream tier: each game's versions reach the tier in
order, with no gap, whatever the tier does meanwhile, and off the path of every other game (at
least once: a hand-over whose message id was not recorded goes again, and clients skip the
versions they hold).

A version reaches the queue claimed already (the store claims it in the same call that writes
it: never one older than a version the tier has, see :class:`core.store.Written`). Each game
with versions waiting has one task handing them over, oldest first; the publisher goes on with
its next batch meanwhile, so a slow publish delays only its own game's stream. A failure stops
that game's queue at the version that failed and tries again a second later, so streams
resuming at the tier find no gap; a client further behind than the versions kept resumes from
a full snapshot anyway.

Use as ``async with PushBacklog(tier) as backlog``: the tasks (handing over, keeping quiet
channels alive) live inside the block; leaving it gives them ``drain_seconds`` to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Coroutine
from types import TracebackType

from core.errors import StoreUnavailableError
from core.store import Written
from streams.tier import PushError, StreamTier

logger = logging.getLogger("scorecast.streams")

#: Versions a down tier missed that are kept per game for when it is back.
KEPT = 64
#: Versions of one game handed over in one call at most (those waiting together: at a match
#: day's busiest, a game's versions of one poll batch go as one message, not one each).
BATCH = 32
RETRY_SECONDS = 1.0
KEEP_ALIVE_EVERY_SECONDS = 1.0


class PushBacklog:
    def __init__(self, tier: StreamTier, drain_seconds: float = 5.0) -> None:
        self.tier = tier
        self.drain_seconds = drain_seconds
        #: Publishes the tier refused (each retried until it takes it).
        self.failures = 0
        #: Per game, claimed versions the tier has not taken yet, oldest first.
        self._waiting: dict[str, deque[Written]] = {}
        self._tasks: asyncio.TaskGroup | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        #: Set while no version waits.
        self._idle = asyncio.Event()
        self._idle.set()

    async def __aenter__(self) -> PushBacklog:
        self._tasks = await asyncio.TaskGroup().__aenter__()
        self._start(self._keep_alive(), "stream tier keep-alive")
        return self

    def _start(self, work: Coroutine[None, None, None], name: str) -> None:
        if self._tasks is None:
            raise RuntimeError("use the push backlog inside 'async with'")
        task = self._tasks.create_task(work, name=name)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        tasks, self._tasks = self._tasks, None
        if tasks is None:
            return
        self._stopping.set()
        # What is queued gets a while to reach the tier; a tier that hangs does not hold the
        # publisher's shutdown longer than that.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.drain_seconds):
                await self._idle.wait()
        if self._waiting:
            logger.warning("%d versions never reached the stream tier", len(self))
        for task in self._running:
            task.cancel()
        await tasks.__aexit__(kind, error, trace)

    def push(self, written: Written) -> bool:
        """Queue ``written`` behind the game's older versions; False when it was not claimed
        (a newer version of the game was pushed already: it is not pushed then)."""
        if written.previous_pushed is None:
            return False
        game_id = written.game.game_id
        waiting = self._waiting.get(game_id)
        if waiting is None:
            waiting = self._waiting[game_id] = deque()
            self._idle.clear()
            self._start(self._hand_over(game_id, waiting), f"push {game_id}")
        waiting.append(written)
        return True

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._waiting.values())

    async def _hand_over(self, game_id: str, waiting: deque[Written]) -> None:
        try:
            while waiting:
                batch = list(itertools.islice(waiting, BATCH))
                try:
                    await self.tier.publish(batch)
                except (PushError, StoreUnavailableError) as exc:
                    self.failures += 1
                    logger.warning("game %s v%d: %s", game_id, batch[0].game.version, exc)
                    while len(waiting) > KEPT:
                        waiting.popleft()
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                for _ in batch:
                    waiting.popleft()
        finally:
            del self._waiting[game_id]
            if not self._waiting:
                self._idle.set()

    async def _keep_alive(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), KEEP_ALIVE_EVERY_SECONDS)
            if not self._stopping.is_set():
                try:
                    await self.tier.keep_alive()
                except PushError as exc:
                    logger.warning("keep-alive: %s", exc)
