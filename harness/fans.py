"""Fans that poll the edge the way client developers are told to: If-None-Match, jitter."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from confluent_kafka import Producer
from redis.asyncio import Redis

from core import changes
from core.keys import RedisKeys
from core.models import Game, GameStatus
from core.store import SnapshotReader
from feeds.adapters import Feed
from feeds.replay import ReplaySettings, replay


@dataclass
class PollingFan:
    """Polls one game; records each new version, how fresh it was, and any step back."""

    path: str
    interval: tuple[float, float] = (0.01, 0.03)
    seen: list[int] = field(default_factory=list)
    requests: int = 0
    not_modified: int = 0
    errors: int = 0
    went_back: int = 0
    #: Seconds from an event entering the pipeline to this fan first seeing its version.
    freshness: list[float] = field(default_factory=list)
    last: Game | None = None
    #: (epoch seconds, version shown) for every answer; and when errors and steps back were.
    answers: list[tuple[float, int]] = field(default_factory=list)
    errors_at: list[float] = field(default_factory=list)
    went_back_at: list[float] = field(default_factory=list)

    async def poll(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        etag: str | None = None
        while not stop.is_set():
            headers = {"If-None-Match": etag} if etag else {}
            try:
                response = await http.get(self.path, headers=headers)
            except httpx.HTTPError:
                self._failed()
                await asyncio.sleep(self.interval[1])
                continue
            self.requests += 1
            if response.status_code == 304:
                self.not_modified += 1
                if self.seen:
                    self.answers.append((time.time(), self.seen[-1]))
            elif response.status_code == 200:
                self._saw(Game.model_validate_json(response.content))
                etag = response.headers.get("ETag")
            elif response.status_code != 404:  # 404: the game has not started yet
                self._failed()
            await asyncio.sleep(random.uniform(*self.interval))

    def _failed(self) -> None:
        self.errors += 1
        self.errors_at.append(time.time())

    def _saw(self, game: Game) -> None:
        newest = self.seen[-1] if self.seen else 0
        self.answers.append((time.time(), game.version))
        if game.version < newest:
            self.went_back += 1
            self.went_back_at.append(time.time())
            return
        if game.version > newest:
            self.seen.append(game.version)
            if game.ingested_at is not None:
                lag = datetime.now(UTC) - game.ingested_at
                self.freshness.append(lag.total_seconds())
        self.last = game


async def schedule(
    edge_url: str, bootstrap: str, feed: Feed, producer: Producer | None = None
) -> None:
    """Send the game's first event (its schedule) and wait until the edge serves the game:
    fans arrive at a scheduled game, as on a real evening."""
    settings = ReplaySettings(kafka_bootstrap=bootstrap)
    first = Feed(feed.format, feed.game_id, feed.events[:1])
    await asyncio.to_thread(replay, first, settings, 0, 0, None, producer)
    await until_served(f"{edge_url}/v1/games/{feed.game_id}", lambda game: True)


async def until_served(url: str, done: Callable[[dict[str, Any]], bool]) -> None:
    """Until ``url`` answers 200 with a game for which ``done`` is true (60 s at most)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TimeoutException):  # an edge under load is slow
                response = await http.get(url)
                if response.status_code == 200 and done(response.json()):
                    return
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} did not serve the expected game within 60 s")


async def until_final(fans: list[PollingFan], seconds: float = 30.0) -> None:
    """Return once every fan has seen the game end, or after ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if all(fan.last and fan.last.status is GameStatus.FINAL for fan in fans):
            return
        await asyncio.sleep(0.05)


async def published_versions(redis_url: str, game_id: str) -> list[int]:
    """The versions the publisher wrote for a game, read from Redis."""
    async with Redis.from_url(redis_url) as redis:
        return await SnapshotReader(redis, RedisKeys()).version_numbers(game_id)


async def until_purged(redis_url: str, keys: RedisKeys, group: str, seconds: float = 30) -> None:
    """Until the purgers (``group``) have read and acknowledged every announcement so far:
    the edge has had every purge, so what a reader gets next stays current."""
    deadline = time.monotonic() + seconds
    async with Redis.from_url(redis_url) as redis:
        while True:
            caught_up = True
            for stream in keys.change_streams:
                newest = await redis.xrevrange(stream, count=1)
                groups = {g["name"].decode(): g for g in await redis.xinfo_groups(stream)}
                found = groups.get(group)
                if newest and (
                    found is None or found["pending"] or found["last-delivered-id"] != newest[0][0]
                ):
                    caught_up = False
            if caught_up:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"purgers of {group} still behind after {seconds:.0f} s")
            await asyncio.sleep(0.05)


async def origin_requests(metrics_url: str, route: str = "/v1/games/{game_id}") -> int:
    """Requests the origin answered on ``route``, from its own counters (read on its private
    listener, ``metrics_url``)."""
    labels = rf'route="{re.escape(route)}",status="\d+"'
    return int(await counted(metrics_url, "scorecast_origin_requests_total", labels))


async def counted(metrics_url: str, name: str, labels: str = r"[^}]*") -> float:
    """The sum of a service's samples of ``name`` whose labels match ``labels`` (a pattern),
    read on its private listener."""
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{metrics_url}/metrics")).text
    pattern = rf"^{re.escape(name)}(?:\{{{labels}\}})? (\S+)$"
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


async def stored_versions(origin_url: str, game_id: str, versions: list[int]) -> dict[int, Game]:
    """The bodies of these versions of a game, read from the origin (they are immutable)."""
    found: dict[int, Game] = {}
    async with httpx.AsyncClient(base_url=origin_url, timeout=5) as http:
        for version in versions:
            response = await http.get(f"/v1/games/{game_id}/versions/{version}")
            if response.status_code == 200:
                found[version] = Game.model_validate_json(response.content)
    return found


async def ingest_times(origin_url: str, game_id: str, versions: list[int]) -> dict[int, float]:
    """When each version's newest event entered the pipeline (epoch seconds)."""
    stored = await stored_versions(origin_url, game_id, versions)
    return {v: g.ingested_at.timestamp() for v, g in stored.items() if g.ingested_at is not None}


async def announce_times(redis_url: str, keys: RedisKeys, game_id: str) -> dict[int, float]:
    """When the publisher announced each version of a game (epoch seconds): the id of its
    entry in the change stream is Redis's clock at the write. The publisher pushes the version
    to the GRIP proxy right after, so this is also when push delivery starts."""
    found: dict[int, float] = {}
    async with Redis.from_url(redis_url) as redis:
        stream = keys.change_stream(game_id)
        read = changes.parse([(stream, await redis.xrange(stream))])
    for entry in read.announcements:
        if entry.kind == changes.VERSION and entry.game_id == game_id:
            for version in entry.versions:  # a batch's versions share one entry
                found[version] = int(entry.id.split("-")[0]) / 1000
    return found


def since(start: dict[int, float], end: dict[int, float]) -> list[float]:
    """Milliseconds from ``start`` to ``end`` for each version in both."""
    return [(end[v] - start[v]) * 1000 for v in start if v in end]


def merged_counts(counts: list[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for count in counts:
        for kind, n in count.items():
            merged[kind] = merged.get(kind, 0) + n
    return merged


def earliest(seen: list[dict[int, float]]) -> dict[int, float]:
    """The earliest time each version was seen, over several crowds' records."""
    first: dict[int, float] = {}
    for times in seen:
        for version, at in times.items():
            first[version] = min(first.get(version, at), at)
    return first


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]
