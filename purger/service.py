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
from collections import deque

from core import changes as change_kinds
from core.changes import Announcement, ChangeGroup
from core.connection import redis_client
from core.keys import RedisKeys, game_key
from purger.backends import PurgeBackend, PurgeError
from purger.cloudflare import CloudflareBackend
from purger.fastly import FastlyBackend
from purger.metrics import PurgerMetrics
from purger.settings import PurgerSettings
from purger.varnish import VarnishBackend
from runtime.lifecycle import Service
from runtime.metrics import exporting
from runtime.ratelimit import TokenBucket

logger = logging.getLogger("scorecast.purger")

_BLOCK_MS = 500
_VERIFY_EVERY_SECONDS = 0.25
#: A change stream's depth (a gauge for operators) is asked of Redis at most this often: asked
#: after every batch, it took 25,448 calls over a 300-game match day (about 110 a second).
_DEPTH_EVERY_SECONDS = 1.0
#: Times a game still behind after being purged again is looked at once more.
_VERIFY_TIMES = 3


def make_backend(settings: PurgerSettings) -> PurgeBackend:
    if settings.backend == "fastly":
        return FastlyBackend(settings, settings.http_timeout)
    if settings.backend == "cloudflare":
        return CloudflareBackend(settings, settings.http_timeout)
    return VarnishBackend(settings)


class Purger(Service):
    """Use as ``async with Purger(settings) as purger: await purger.run(stop)``."""

    def __init__(self, settings: PurgerSettings) -> None:
        self.settings = settings
        self.drain_seconds = settings.drain_seconds
        self.redis = redis_client(settings)
        keys = RedisKeys(settings.redis_prefix, settings.change_shards)
        #: One per change stream, each read on its own: a cluster serves no read across slots.
        self.groups = ChangeGroup.every(self.redis, keys, settings.group, settings.consumer)
        #: Entries pending or unread, per stream, as last measured, and when (monotonic).
        self._depths: dict[str, int] = {}
        self._measured: dict[str, float] = {}
        self.backend = make_backend(settings)
        self.metrics = PurgerMetrics(self.backend.name)
        self.bucket = TokenBucket(*settings.purge_rate())
        self.calls = 0
        self.purged = 0
        self.claimed = 0
        self.abandoned = 0
        #: Announcement → purge acknowledged, of each acknowledged change (milliseconds).
        self.lags_ms: list[float] = []
        #: Games purged again because an edge node still held an older version afterwards.
        self.repurged = 0
        #: Announced games to look at again at the edge: (when, game id, version, times).
        self._checks: deque[tuple[float, str, int, int]] = deque()
        #: Set while ``run`` follows the change streams.
        self._following = False

    async def start(self, resources: contextlib.AsyncExitStack) -> None:
        await resources.enter_async_context(self.redis)
        resources.push_async_callback(self.backend.aclose)
        await resources.enter_async_context(
            exporting(self.metrics.registry, self.settings, self.ready)
        )
        for group in self.groups:
            await group.ensure()

    async def run(self, stop: asyncio.Event) -> None:
        """Purge until ``stop`` is set. What is being purged when it is set stays pending."""
        logger.info(
            "purger started: backend %s, consumer %s, %d change streams",
            self.backend.name,
            self.settings.consumer,
            len(self.groups),
        )
        # The streams share the backend and its rate limit; each is read on its own.
        self._following = True
        try:
            async with asyncio.TaskGroup() as readers:
                for group in self.groups:
                    readers.create_task(self._follow(group, stop), name=f"purge {group.stream}")
                if isinstance(self.backend, VarnishBackend) and self.settings.verify_seconds:
                    readers.create_task(self._verify(self.backend, stop), name="purge verify")
        except ExceptionGroup as failed:
            # The others were cancelled by then: the service fails as with one stream.
            raise failed.exceptions[0] from None
        finally:
            self._following = False

    async def ready(self) -> str | None:
        """Ready while it follows every change stream and Redis answers."""
        if not self._following:
            return "not following the change streams"
        await self.redis.ping()
        return None

    async def _follow(self, group: ChangeGroup, stop: asyncio.Event) -> None:
        # First what this consumer read but never acknowledged (it died mid-purge), then new.
        pending = True
        next_claim = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_claim:
                # Entries a dead (or hung) purger holds would otherwise never be purged.
                next_claim = time.monotonic() + self.settings.claim_idle_seconds / 2
                claimed = await group.claim(
                    int(self.settings.claim_idle_seconds * 1000), self.settings.batch_size
                )
                if claimed:
                    self.claimed += len(claimed)
                    logger.warning("took over %d changes of an idle purger", len(claimed))
                    await self._purge(group, claimed, stop)
                    continue
            changes = await self._read(group, "0" if pending else ">", block=not pending)
            if pending and not changes:
                pending = False
                continue
            if changes:
                await self._purge(group, changes, stop)
            await self._measure_queue(group)

    async def _read(self, group: ChangeGroup, start: str, block: bool) -> list[Announcement]:
        size = self.settings.batch_size
        changes = await group.read(start, size, _BLOCK_MS if block else None)
        if changes and start == ">" and self.settings.window_seconds > 0:
            # Keys announced within the window ride in the same purge call.
            await asyncio.sleep(self.settings.window_seconds)
            changes += await group.read(">", size, None)
        return changes

    async def _purge(
        self, group: ChangeGroup, changes: list[Announcement], stop: asyncio.Event
    ) -> None:
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
        await group.ack([change.id for change in changes])
        if self.settings.verify_seconds and isinstance(self.backend, VarnishBackend):
            due = time.monotonic() + self.settings.verify_seconds
            for change in changes:
                if change.kind == change_kinds.VERSION:
                    self._checks.append((due, change.game_id, change.version, 0))
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

    async def _verify(self, backend: VarnishBackend, stop: asyncio.Event) -> None:
        """Look again, a moment after their purge, at what the edge holds of the announced
        games; purge once more those still held fresh at an older version, and look once more
        at those still refreshing (see :mod:`purger.varnish`)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _VERIFY_EVERY_SECONDS)
            now = time.monotonic()
            announced: dict[str, tuple[int, int]] = {}
            while self._checks and self._checks[0][0] <= now:
                _, game_id, version, times = self._checks.popleft()
                newest, fewest = announced.get(game_id, (0, times))
                announced[game_id] = (max(version, newest), min(times, fewest))
            if not announced or stop.is_set():
                continue
            looked = await backend.behind({g: v for g, (v, _) in announced.items()})
            # Still refreshing: maybe by a fetch begun before the purge, which brings the
            # older version when it ends.
            self._look_again(looked.stale, announced)
            late = looked.late
            if not late:
                continue
            self.repurged += len(late)
            self.metrics.repurged.inc(len(late))
            logger.warning(
                "purged %d games again: still held at an older version after their purge",
                len(late),
            )
            size = backend.max_keys
            for start in range(0, len(late), size):
                await self._purge_with_retry(
                    [game_key(g) for g in late[start : start + size]], stop
                )
            self._look_again(late, announced)

    def _look_again(self, games: list[str], announced: dict[str, tuple[int, int]]) -> None:
        """Another look at ``games`` after ``verify_seconds``, unless they had their last."""
        due = time.monotonic() + self.settings.verify_seconds
        for game_id in games:
            version, times = announced[game_id]
            if times + 1 < _VERIFY_TIMES:
                self._checks.append((due, game_id, version, times + 1))

    async def _measure_queue(self, group: ChangeGroup) -> None:
        """This stream's depth, unless measured within the last second; the gauge shows all
        streams' together."""
        now = time.monotonic()
        last = self._measured.get(group.stream)
        if last is not None and now - last < _DEPTH_EVERY_SECONDS:
            return
        self._measured[group.stream] = now
        depth = await group.depth()
        if depth is not None:
            self._depths[group.stream] = depth
            self.metrics.queue_depth.set(sum(self._depths.values()))
