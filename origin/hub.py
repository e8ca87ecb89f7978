"""Direct-mode push: one reader of the change stream per origin process, fanning out to the
streams and long-polls this process holds (when no GRIP proxy holds them instead).

Each subscriber has a bounded buffer. A subscriber that falls that far behind is cut off rather
than buffered without limit: memory stays flat whatever the clients do, and a cut-off client
reconnects with ``Last-Event-ID`` and gets only what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from redis.exceptions import RedisError

from core import sse
from core.store import Change, SnapshotStore, parse_changes

logger = logging.getLogger("scorecast.origin.hub")

_BLOCK_MS = 1000


def change_of(document: bytes) -> str:
    """The SSE event type of a snapshot or scoreboard row: what its version changed."""
    return str(json.loads(document).get("change", "state"))


class SlowSubscriberError(Exception):
    """The subscriber's buffer filled up: it is cut off."""


@dataclass(frozen=True)
class Push:
    event_id: int
    #: The SSE event, ready to send.
    event: bytes
    #: The JSON document itself (long-polls answer with it).
    body: bytes


class Subscription:
    def __init__(self, channel: str, size: int) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[Push] = asyncio.Queue(size)
        self.overflowed = False

    def offer(self, push: Push) -> bool:
        try:
            self._queue.put_nowait(push)
        except asyncio.QueueFull:
            self.overflowed = True
            return False
        return True

    async def next(self) -> Push:
        if self.overflowed:
            raise SlowSubscriberError(self.channel)
        return await self._queue.get()


class Hub:
    def __init__(self, store: SnapshotStore, buffer: int) -> None:
        self.store = store
        self.buffer = buffer
        self._subscribers: dict[str, set[Subscription]] = {}
        self.cut_off = 0

    def subscribers(self) -> int:
        return sum(len(group) for group in self._subscribers.values())

    @contextlib.contextmanager
    def subscribe(self, channel: str) -> Iterator[Subscription]:
        subscription = Subscription(channel, self.buffer)
        self._subscribers.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            group = self._subscribers.get(channel)
            if group is not None:
                group.discard(subscription)
                if not group:
                    del self._subscribers[channel]

    async def run(self) -> None:
        """Follow the change stream until cancelled (the origin's lifespan owns this task)."""
        last = "$"
        while True:
            try:
                found = await self.store.redis.xread(
                    {self.store.keys.changes: last}, block=_BLOCK_MS, count=100
                )
                for change in parse_changes(found):
                    last = change.id
                    if change.kind == "version":
                        await self._dispatch(change)
            except RedisError as exc:
                logger.warning("change stream unavailable (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def _dispatch(self, change: Change) -> None:
        game_channel = sse.game_channel(change.game_id)
        if game_channel in self._subscribers:
            body = await self.store.version(change.game_id, change.version)
            if body is not None:
                event = sse.event(change.version, change_of(body), body)
                self._deliver(game_channel, Push(change.version, event, body))
        if sse.SCOREBOARD_CHANNEL in self._subscribers:
            row = await self.store.scoreboard_row(change.game_id)
            if row is not None:
                event = sse.event(change.scoreboard_version, change_of(row), row)
                self._deliver(sse.SCOREBOARD_CHANNEL, Push(change.scoreboard_version, event, row))

    def _deliver(self, channel: str, push: Push) -> None:
        for subscription in list(self._subscribers.get(channel, ())):
            if not subscription.offer(push):
                self.cut_off += 1
                self._subscribers[channel].discard(subscription)
