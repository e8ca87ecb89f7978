"""The purger: read change announcements, purge their surrogate keys, then acknowledge them.

Announcements come from a Redis stream read through a consumer group. An entry is acknowledged
only after its keys were purged, so a purger that dies loses nothing: its pending entries are
read again when it comes back. The publisher announces a version only after writing it, so a
purge can never run before the new snapshot is readable at origin.

Keys announced within a short window go out together, in as few calls as the backend allows;
calls are paced by a token bucket, a 429's ``Retry-After`` is honoured, and failures are
retried with exponential backoff and jitter. A change still failing after the retry budget is
reported, counted and acknowledged: the edge TTL then bounds how stale it can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from core.keys import RedisKeys
from core.settings import PurgerSettings
from core.store import Change, parse_changes
from purger.backends import PurgeBackend, PurgeError
from purger.metrics import PurgerMetrics
from purger.ratelimit import TokenBucket

logger = logging.getLogger("scorecast.purger")

_BLOCK_MS = 500


class Purger:
    def __init__(self, settings: PurgerSettings, redis: Redis, backend: PurgeBackend) -> None:
        self.settings = settings
        self.redis = redis
        self.backend = backend
        self.stream = RedisKeys(settings.redis_prefix).changes
        self.metrics = PurgerMetrics(backend.name)
        self.bucket = TokenBucket(settings.calls_per_second, settings.burst)
        self.calls = 0
        self.purged = 0
        self.abandoned = 0
        #: Announcement → purge acknowledged, of each acknowledged change (milliseconds).
        self.lags_ms: list[float] = []

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
            await self._measure_queue()

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
        size = self.backend.max_keys
        for chunk in (keys[i : i + size] for i in range(0, len(keys), size)):
            done = await self._purge_with_retry(chunk, stop)
            if stop.is_set():
                return  # not acknowledged: the next run purges these again
            if not done:
                self.abandoned += len(changes)
                self.metrics.abandoned.inc(len(changes))
                logger.error(
                    "gave up purging %d keys after %.0f s; the edge TTL bounds their staleness",
                    len(chunk),
                    self.settings.retry_budget_seconds,
                )
        await self.redis.xack(self.stream, self.settings.group, *[c.id for c in changes])
        now_ms = time.time() * 1000
        for change in changes:
            lag = now_ms - int(change.id.split("-", 1)[0])
            self.lags_ms.append(lag)
            self.metrics.lag.observe(lag / 1000)
        self.lags_ms = self.lags_ms[-10_000:]
        self.purged += len(changes)
        self.metrics.changes.inc(len(changes))

    async def _purge_with_retry(self, keys: list[str], stop: asyncio.Event) -> bool:
        """True once purged; False when the retry budget ran out (or we are stopping)."""
        delay = self.settings.retry_initial_seconds
        deadline = time.monotonic() + self.settings.retry_budget_seconds
        while not stop.is_set():
            await self.bucket.acquire()
            self.calls += 1
            self.metrics.calls.labels(self.backend.name).inc()
            try:
                await self.backend.purge(keys)
            except PurgeError as exc:
                self.metrics.failures.labels(self.backend.name, exc.reason).inc()
                # Backoff with jitter, so that purgers that failed together retry apart.
                wait = delay * random.uniform(0.5, 1.5)
                if exc.retry_after is not None:
                    wait = max(wait, exc.retry_after)
                    self.bucket.pause(exc.retry_after)
                if time.monotonic() + wait > deadline:
                    logger.error("purge failed (%s), retry budget spent", exc)
                    return False
                logger.warning("purge failed (%s); retrying in %.2f s", exc, wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                delay = min(delay * 2, self.settings.retry_max_seconds)
            else:
                return True
        return False

    async def _measure_queue(self) -> None:
        try:
            groups = await self.redis.xinfo_groups(self.stream)
        except ResponseError:
            return
        for group in groups:
            if group.get("name") in (self.settings.group, self.settings.group.encode()):
                depth = int(group.get("pending") or 0) + int(group.get("lag") or 0)
                self.metrics.queue_depth.set(depth)
