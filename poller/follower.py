"""``scorecast follow``: the boards decide which live documents are polled.

Every game on the boards of the days around today is followed from ``lead_seconds`` before its
start until ``grace_seconds`` after its final (as a follower first saw it), its league's live
document polled like ``scorecast poll`` polls one (:mod:`poller.document`). Any number of
instances share the games: each game is one instance's while that instance renews its lease
(``SET NX PX``); each instance takes at most its share (the games in the window divided by the
live instances, from a heartbeat set), so a day spreads over them. A killed instance's leases
expire and the others take its games at their next scan; two instances never number a game's
records twice even if both poll it for a moment (the ledger numbers in a transaction).

A game taken before its start has its pages fetched through ``warm_urls`` (a shield first, then
edge nodes), so the first fan's request is a hit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from core.calendar import UNDATED
from core.connection import ping, translated
from core.keys import (
    RedisKeys,
    board_surrogate_key,
    edge_paths,
    game_key,
    game_part,
    league_key,
)
from core.store import SnapshotReader
from poller.document import POLL_HELP, Document, PollerStats
from poller.service import intake
from poller.settings import FollowerSettings
from runtime.lifecycle import Service
from runtime.metrics import counted, exporting

logger = logging.getLogger("scorecast.follower")

#: Renew a lease only while this instance holds it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
#: Let a lease go only while this instance holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_STATUSES_FOLLOWED = {"SCHEDULED", "LIVE", "FINAL"}
#: How long one pre-warm fetch may take (it never holds a scan).
WARM_SECONDS = 5.0


@dataclass
class FollowerStats:
    scans: int = 0
    taken: int = 0
    let_go: int = 0
    lost: int = 0
    warmed: int = 0
    warm_failures: int = 0


@dataclass
class _Followed:
    document: Document
    stop: asyncio.Event
    task: asyncio.Task[None]


@dataclass(frozen=True)
class Wanted:
    """A game in the window, and the URL of its live document."""

    game_id: str
    url: str
    league: str
    part: str
    start: datetime | None


class Follower(Service):
    """``async with Follower(settings) as follower: await follower.run(stop)``."""

    def __init__(self, settings: FollowerSettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.drain_seconds = settings.drain_seconds
        self.name = settings.name or f"{socket.gethostname()}:{os.getpid()}"
        self.keys = RedisKeys(settings.redis_prefix)
        self.stats = PollerStats()
        self.follows = FollowerStats()
        self.following: dict[str, _Followed] = {}
        #: Games let go, finishing the poll they had in flight before their lease goes back;
        #: and pre-warms of games taken.
        self._stopping: set[asyncio.Task[None]] = set()
        self._warming: set[asyncio.Task[None]] = set()
        self._scanned: float | None = None
        self._rng = rng or random.Random()
        self.registry = CollectorRegistry()
        self.registry.register(
            counted(
                "scorecast_follower",
                lambda: dataclasses.asdict(self.stats) | dataclasses.asdict(self.follows),
                lambda: {"games": len(self.following), "failing": self._failing()},
                POLL_HELP
                | {
                    "scans": "Reads of the boards for games to take or let go.",
                    "taken": "Games this instance took to follow.",
                    "let_go": "Games let go (final plus grace, or out of the window).",
                    "lost": "Games whose lease another instance took (this one was too late).",
                    "warmed": "Pages fetched through the edge before a game's start.",
                    "warm_failures": "Pre-warm fetches that failed.",
                    "games": "Games this instance follows now.",
                    "failing": "Followed documents whose last poll failed.",
                },
            )
        )

    def _failing(self) -> int:
        return sum(1 for one in self.following.values() if one.document.failing)

    async def start(self, resources: contextlib.AsyncExitStack) -> None:
        self._http, self._intake = await intake(resources, self.settings)
        self._redis = self._intake.ledger.redis
        self._store = SnapshotReader(self._redis, self.keys)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        # Before the clients close (callbacks run last in, first out): no poll outlives them.
        resources.push_async_callback(self._let_go_all)
        await resources.enter_async_context(exporting(self.registry, self.settings, self.ready))

    async def ready(self) -> str | None:
        if self._scanned is None:
            return "no scan of the boards yet"
        await ping(self._redis)
        return None

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.scan()
                except Exception:
                    # Redis away for a moment: the leases held run on; the next scan retries.
                    logger.exception("scan of the boards failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.scan_seconds)
        finally:
            await self._let_go_all()

    async def scan(self, now: datetime | None = None) -> None:
        """Renew this instance's leases, let go what left the window, take its share of the
        rest."""
        now = now or datetime.now(UTC)
        self.follows.scans += 1
        members = await self._heartbeat()
        wanted = {game.game_id: game for game in await self.wanted(now)}
        for game_id, followed in list(self.following.items()):
            if followed.task.done():
                # Its poll loop ended on an error of its own: let it go (its lease too) so
                # that this or another instance takes it again at a scan.
                failure = None if followed.task.cancelled() else followed.task.exception()
                logger.error("polling game %s stopped: %r", game_id, failure)
                self.follows.let_go += 1
                await self._let_go(game_id)
            elif game_id not in wanted:
                self.follows.let_go += 1
                await self._let_go(game_id)
            elif not await self._renewed(game_id):
                self.follows.lost += 1
                logger.warning("lease of game %s was taken by another follower", game_id)
                await self._let_go(game_id, release=False)
        share = math.ceil(len(wanted) / max(members, 1))
        if len(self.following) > share:
            # Another instance joined: give one game back per scan for the others to take.
            await self._let_go(sorted(self.following)[-1])
        for game in sorted(wanted.values(), key=_by_start):
            if len(self.following) >= share:
                break
            if game.game_id not in self.following and await self._take(game.game_id):
                self.follows.taken += 1
                self._follow(game)
                # In the background: a slow edge node must not hold the scan (and with it the
                # renewal of every lease this instance holds).
                self._background(self._warm(game), self._warming)
        self._scanned = time.monotonic()

    @translated
    async def wanted(self, now: datetime) -> list[Wanted]:
        """Every game of the boards of yesterday, today and tomorrow (and the undated) inside
        its window whose league has a live document."""
        days = {(now + timedelta(days=offset)).date().isoformat() for offset in (-1, 0, 1)}
        parts = [
            part
            for part in await self._store.board_parts()
            if part.rsplit(":", 1)[1] in days | {UNDATED}
        ]
        board = await self._store.board(parts)
        found: list[Wanted] = []
        for row in board.rows.values():
            game = _row(row)
            template = self.settings.live_urls.get(league_key(str(game.get("league", ""))))
            if template is None or game.get("status") not in _STATUSES_FOLLOWED:
                continue
            start = _instant(game.get("start_time"))
            if await self._inside(game, start, now):
                game_id = str(game["game_id"])
                url = template.format(game_id=game_id)
                found.append(Wanted(game_id, url, game["league"], _part(game, start), start))
        return found

    async def _inside(self, game: dict[str, Any], start: datetime | None, now: datetime) -> bool:
        status = game["status"]
        if status == "LIVE":
            return True
        if status == "SCHEDULED":
            lead = timedelta(seconds=self.settings.lead_seconds)
            return start is not None and start - lead <= now
        # Final: followed for the grace period after a follower first saw it so.
        key = self.keys.followed_final(str(game["game_id"]))
        keep = int(self.settings.grace_seconds) + 86_400
        # One round trip: set it if no follower saw it final before, and read what stands.
        before = await self._redis.set(key, now.timestamp(), nx=True, ex=keep, get=True)
        seen = float(before) if before is not None else now.timestamp()
        return now.timestamp() < seen + self.settings.grace_seconds

    async def _heartbeat(self) -> int:
        """Say this instance is alive; how many are."""
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.followers, {self.name: now + self.settings.lease_seconds})
            pipe.zremrangebyscore(self.keys.followers, "-inf", now)
            pipe.zcard(self.keys.followers)
            _, _, members = await pipe.execute()
        return int(members)

    async def _take(self, game_id: str) -> bool:
        lease = int(self.settings.lease_seconds * 1000)
        return bool(
            await self._redis.set(self.keys.follower(game_id), self.name, nx=True, px=lease)
        )

    async def _renewed(self, game_id: str) -> bool:
        lease = int(self.settings.lease_seconds * 1000)
        return bool(await self._renew(keys=[self.keys.follower(game_id)], args=[self.name, lease]))

    def _follow(self, game: Wanted) -> None:
        document = Document(game.url, self.settings, self.stats, game_id=game.game_id)
        stop = asyncio.Event()
        task = asyncio.create_task(
            document.run(self._http, self._intake, stop, self._rng), name=f"follow-{game.game_id}"
        )
        self.following[game.game_id] = _Followed(document, stop, task)
        logger.info("following game %s at %s", game.game_id, game.url)

    async def _let_go(self, game_id: str, release: bool = True) -> None:
        """Stop polling the game; its lease goes back once the poll in flight has ended (its
        records acknowledged by Kafka: the next instance's first poll finds them known, not
        waiting in the outbox to be produced again). A scan does not wait for that: the
        other leases would run out meanwhile."""
        followed = self.following.pop(game_id)
        followed.stop.set()
        self._background(self._finish(game_id, followed.task, release))

    def _background(
        self, work: Coroutine[Any, Any, None], owner: set[asyncio.Task[None]] | None = None
    ) -> None:
        """Work the scan does not wait for, owned by the service (awaited or, for pre-warms,
        cancelled when it stops)."""
        tasks = self._stopping if owner is None else owner
        task = asyncio.create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _finish(self, game_id: str, task: asyncio.Task[None], release: bool) -> None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await task  # its failure, if any, was logged by the scan that saw it
        if release:
            await self._release(keys=[self.keys.follower(game_id)], args=[self.name])
        logger.info("let go of game %s", game_id)

    async def _let_go_all(self) -> None:
        for game_id in list(self.following):
            try:
                await self._let_go(game_id)
            except Exception:
                logger.exception("could not let go of game %s", game_id)
        for warm in list(self._warming):
            warm.cancel()
        await asyncio.gather(*self._warming, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._redis.zrem(self.keys.followers, self.name)
        await asyncio.gather(*self._stopping, return_exceptions=True)

    async def _warm(self, game: Wanted) -> None:
        """Fetch the game's pages through each edge URL in order (a shield first)."""
        if game.start is not None and game.start <= datetime.now(UTC):
            return  # started already: fans have fetched them
        paths = [
            *edge_paths(game_key(game.game_id)),
            *edge_paths(board_surrogate_key(game.part)),
        ]
        for base in self.settings.warm_urls:
            for path in paths:
                try:
                    response = await self._http.get(base.rstrip("/") + path, timeout=WARM_SECONDS)
                    response.raise_for_status()
                    self.follows.warmed += 1
                except httpx.HTTPError as exc:
                    self.follows.warm_failures += 1
                    logger.warning("pre-warm of %s%s failed: %s", base, path, exc)


def _row(row: bytes) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(row)
    return found


def _instant(value: object) -> datetime | None:
    """A row's start, in UTC (a start written without a zone is read as UTC)."""
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _by_start(game: Wanted) -> tuple[float, str]:
    return (game.start.timestamp() if game.start else 0.0, game.game_id)


def _part(game: dict[str, Any], start: datetime | None) -> str:
    """The board part a row is on (its day as stated, else its start's)."""
    day = game.get("day")
    return game_part(
        str(game["league"]), date.fromisoformat(day) if isinstance(day, str) else None, start
    )
