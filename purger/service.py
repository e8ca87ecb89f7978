"""The purger: read change announcements, purge their surrogate keys, then acknowledge them.

Announcements come from a Redis stream read through a consumer group. An entry is acknowledged
only after its keys were purged, so a purger that dies loses nothing: its pending entries are
read again when it comes back. The publisher announces a version only after writing it, so a
purge can never run before the new snapshot is readable at origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from purger.backends import PurgeBackend, PurgeError
from scorecast.keys import RedisKeys
from scorecast.settings import PurgerSettings
from scorecast.store import Change, parse_changes

logger = logging.getLogger("scorecast.purger")

_BLOCK_MS = 500


@dataclass
class PurgerStats:
    changes: int = 0
    calls: int = 0
    keys: int = 0
    failures: int = 0
    #: Announcement → purge acknowledged, of the newest batch (milliseconds).
    last_lag_ms: float = 0.0


class Purger:
    def __init__(self, settings: PurgerSettings, redis: Redis, backend: PurgeBackend) -> None:
        self.settings = settings
        self.redis = redis
        self.backend = backend
        self.stream = RedisKeys(settings.redis_prefix).changes
        self.stats = PurgerStats()

    async def ensure_group(self) -> None:
        try:
            # From the start of the stream: changes announced before the first purger ran are
            # purged too.
            await self.redis.xgroup_create(self.stream, self.settings.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_group()
        # First what this consumer read but never acknowledged (it died mid-purge), then new.
        pending = True
        while not stop.is_set():
            changes = await self._read("0" if pending else ">", block=not pending)
            if pending and not changes:
                pending = False
                continue
            if changes:
                await self._purge(changes, stop)

    async def _read(self, start: str, block: bool) -> list[Change]:
        found = await self.redis.xreadgroup(
            self.settings.group,
            self.settings.consumer,
            {self.stream: start},
            count=self.settings.batch_size,
            block=_BLOCK_MS if block else None,
        )
        changes = parse_changes(found)
        if changes and start == ">" and self.settings.window_seconds > 0:
            # Keys announced within the window ride in the same purge call.
            await asyncio.sleep(self.settings.window_seconds)
            more = await self.redis.xreadgroup(
                self.settings.group,
                self.settings.consumer,
                {self.stream: ">"},
                count=self.settings.batch_size,
            )
            changes += parse_changes(more)
        return changes

    async def _purge(self, changes: list[Change], stop: asyncio.Event) -> None:
        keys = list(dict.fromkeys(key for change in changes for key in change.keys))
        chunks = [
            keys[i : i + self.backend.max_keys] for i in range(0, len(keys), self.backend.max_keys)
        ]
        for chunk in chunks:
            await self._purge_with_retry(chunk, stop)
            if stop.is_set():
                return  # not acknowledged: the next run purges these again
        await self.redis.xack(self.stream, self.settings.group, *[c.id for c in changes])
        oldest_ms = min(int(change.id.split("-", 1)[0]) for change in changes)
        self.stats.changes += len(changes)
        self.stats.last_lag_ms = time.time() * 1000 - oldest_ms
        logger.debug(
            "purged %d keys for %d changes, lag %.0f ms",
            len(keys),
            len(changes),
            self.stats.last_lag_ms,
        )

    async def _purge_with_retry(self, keys: list[str], stop: asyncio.Event) -> None:
        delay = self.settings.retry_initial_seconds
        while True:
            self.stats.calls += 1
            try:
                await self.backend.purge(keys)
            except PurgeError as exc:
                self.stats.failures += 1
                wait = exc.retry_after or delay * random.uniform(0.5, 1.5)
                logger.warning("purge failed (%s); retrying in %.2f s", exc, wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                if stop.is_set():
                    return
                delay = min(delay * 2, self.settings.retry_max_seconds)
            else:
                self.stats.keys += len(keys)
                return
