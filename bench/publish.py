"""``scripts/bench publish``: how fast one publisher turns a match day's events into versions.

Every event of N games (the recorded games in turn, each under an id of its own) is in the
broker before the publisher starts; one publisher, in this process, drains them into a real
Redis. Printed: versions per second, CPU microseconds per version (this process: the fold,
serialization, the Kafka client's threads and the Redis client), and Redis round trips,
counted where the client sends them (a pipeline or a script is one): those of each game batch
(its write and announcement), apart from those a game makes once (loading its state, joining
its board, its final's standings) and a connection's handshake; with
``--profile N`` the N functions that took the most time. No stream tier:
what is pushed leaves the publisher's path (see :mod:`streams.backlog`) and is the push
benchmarks' to measure.
"""

from __future__ import annotations

import asyncio
import contextvars
import cProfile
import json
import pstats
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from confluent_kafka import Producer
from redis.asyncio.connection import Connection

from bench.table import print_table
from core.connection import redis_client
from core.keys import RedisKeys
from core.models import GameStatus
from core.reducer import fold
from core.store import Leaders, SnapshotWriter
from feeds.adapters import Feed
from harness.timeline import matchday_feeds
from local.process import free_port
from local.redis import redis_server, redis_url
from local.services import start_broker
from publisher.retirement import Retirement
from publisher.service import Publisher
from publisher.settings import PublisherSettings
from runtime.collector import settle
from runtime.kafka import Delivery, ensure_topics, producer_config

#: What the round trips sent now are for, when not a game batch's own (set for the duration of
#: the calls named in :func:`_counted_apart`, and of a connection's handshake).
_APART: contextvars.ContextVar[str | None] = contextvars.ContextVar("apart", default=None)


class _CountingConnection(Connection):
    """A Redis connection that counts what it sends: one packed send is one round trip."""

    sent = 0
    apart: ClassVar[Counter[str]] = Counter()

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        _CountingConnection.sent += 1
        apart = _APART.get()
        if apart is not None:
            _CountingConnection.apart[apart] += 1
        await super().send_packed_command(command, check_health)

    async def on_connect(self) -> None:
        token = _APART.set("connecting")
        try:
            await super().on_connect()
        finally:
            _APART.reset(token)


def _counted_apart(target: object, name: str, what: str) -> None:
    """Round trips of ``target.name`` are counted as ``what``, not as a game batch's."""
    original = getattr(target, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        token = _APART.set(_APART.get() or what)
        try:
            return await original(*args, **kwargs)
        finally:
            _APART.reset(token)

    setattr(target, name, counted)


@dataclass(frozen=True)
class PublishResult:
    games: int
    events: int
    versions: int
    seconds: float
    versions_per_second: float
    cpu_us_per_version: float
    #: Each game's versions written from one poll batch.
    game_batches: int
    round_trips: int
    #: The round trips of game batches (each game's write, the announcements) over them.
    round_trips_per_game_batch: float
    #: Those a game makes once, over the games: loading its state, joining its board part and
    #: its teams' lists (when first seen, or moved), its final's standings.
    round_trips_once_per_game: float
    #: Connections opened (their handshakes' round trips).
    round_trips_connecting: int
    #: With ``--retire``: Redis used per game once every finished game retired, and games
    #: whose latest differs from a clean fold of their feed (before and after).
    games_final: int = 0
    games_retired: int = 0
    redis_kb_per_game_before: float = 0.0
    redis_kb_per_game_retired: float = 0.0
    games_diverged: int = 0
    #: Season tables (a league's standings and leaders of a season) the finals made, and those
    #: that read differently once the games retired.
    season_tables: int = 0
    season_tables_changed: int = 0


async def run_publish(
    files: list[Path], games: int, batch_size: int, profile: int = 0, retire: bool = False
) -> PublishResult:
    feeds = matchday_feeds(files, games)
    events = sum(len(feed.events) for feed in feeds)
    with tempfile.TemporaryDirectory(prefix="scorecast-bench-") as tmp:
        run_dir = Path(tmp)
        port = free_port()
        with redis_server(port, run_dir):
            broker, broker_port = start_broker(run_dir)  # started already
            try:
                settings = PublisherSettings(
                    redis_url=redis_url(port),
                    kafka_bootstrap=f"127.0.0.1:{broker_port}",
                    batch_size=batch_size,
                    group_id="bench-publish",
                    retention_seconds=0.0,  # retired only when the bench sweeps (--retire)
                    retire_every_seconds=3600.0,
                )
                await asyncio.to_thread(ensure_topics, settings)
                await asyncio.to_thread(_preload, settings, feeds)
                result = await _drain(settings, games, events, profile)
                if retire:
                    result = await _retire(settings, feeds, result)
                return result
            finally:
                broker.stop()


def _preload(settings: PublisherSettings, feeds: list[Feed]) -> None:
    delivery = Delivery(Producer(producer_config(settings)))
    # Interleaved as a match day is: every game's first event, then every second one…
    longest = max(len(feed.events) for feed in feeds)
    for index in range(longest):
        for feed in feeds:
            if index < len(feed.events):
                delivery.send_event(settings.events_topic, feed.events[index])
    delivery.check(120.0, "bench events")


async def _drain(
    settings: PublisherSettings, games: int, events: int, profile: int
) -> PublishResult:
    publisher = Publisher(settings)
    publisher.redis.connection_pool.connection_class = _CountingConnection
    written = 0
    original = publisher.store.write_game

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal written
        written += 1
        return await original(*args, **kwargs)

    publisher.store.write_game = counted  # type: ignore[method-assign]
    for name in ("load_game", "announce", "_show", "record_final"):
        _counted_apart(publisher.store, name, "once per game")
    async with publisher:
        # The group's join and the first fetch are not the publisher's work.
        while publisher.stats.consumed == 0:
            await publisher.step()
        # Where a service process settles its collector (``serve``, after start); this freezes
        # the bench's own events too, which a publisher process does not hold.
        settle()
        profiler = cProfile.Profile() if profile else None
        sent, cpu, started = _CountingConnection.sent, time.process_time(), time.monotonic()
        apart = Counter(_CountingConnection.apart)
        stats = publisher.stats
        if profiler is not None:
            profiler.enable()
        while stats.applied + stats.duplicates + stats.dead_lettered < events:
            await publisher.step()
        if profiler is not None:
            profiler.disable()
        seconds = time.monotonic() - started
        cpu = time.process_time() - cpu
        round_trips = _CountingConnection.sent - sent
        apart = _CountingConnection.apart - apart
    if profiler is not None:
        # Where the time goes (a profiled run is slower: its figures are not the run's).
        pstats.Stats(profiler).sort_stats("tottime").print_stats(profile)
    versions = stats.versions
    return PublishResult(
        games=games,
        events=events,
        versions=versions,
        seconds=round(seconds, 2),
        versions_per_second=round(versions / seconds, 0),
        cpu_us_per_version=round(cpu / versions * 1e6, 0),
        game_batches=written,
        round_trips=round_trips,
        round_trips_per_game_batch=round((round_trips - sum(apart.values())) / max(written, 1), 2),
        round_trips_once_per_game=round(apart["once per game"] / games, 2),
        round_trips_connecting=apart["connecting"],
    )


async def _retire(
    settings: PublisherSettings, feeds: list[Feed], result: PublishResult
) -> PublishResult:
    """Every finished game retired: what Redis keeps per game, and every final still right."""
    redis = redis_client(settings)
    store = SnapshotWriter(redis, RedisKeys(settings.redis_prefix, settings.change_shards), 1000)
    async with redis:
        before = await _used(redis)
        diverged = await _diverged(store, feeds)
        tables = await _season_tables(store, feeds)
        retirement = Retirement(store, 3600.0)
        while await retirement.sweep():
            pass
        after = await _used(redis)
        diverged += await _diverged(store, feeds)
        tables_after = await _season_tables(store, feeds)
        finals = sum(
            1
            for game in [await store.load_game(f.game_id) for f in feeds]
            if game is not None and game.status is GameStatus.FINAL
        )
    return replace(
        result,
        games_final=finals,
        games_retired=retirement.retired,
        redis_kb_per_game_before=round(before / len(feeds) / 1000, 1),
        redis_kb_per_game_retired=round(after / len(feeds) / 1000, 1),
        games_diverged=diverged,
        season_tables=len(tables),
        season_tables_changed=sum(tables_after.get(key) != table for key, table in tables.items()),
    )


#: A season's standings (version, rows) and leaders, by (league, season).
_Tables = dict[tuple[str, str | None], tuple[int, dict[str, bytes], Leaders]]


async def _season_tables(store: SnapshotWriter, feeds: list[Feed]) -> _Tables:
    """Each season's standings and leaders as the views read them."""
    seasons: set[tuple[str, str | None]] = set()
    for feed in feeds:
        game = await store.load_game(feed.game_id)
        if game is not None and game.status is GameStatus.FINAL:
            seasons.add((game.league, game.season))
    tables: _Tables = {}
    for league, season in seasons:
        standings = await store.standings(league, season)
        leaders = await store.leaders(league, 10, season)
        tables[(league, season)] = (standings.version, standings.rows, leaders)
    return tables


async def _used(redis: Any) -> int:
    """Redis memory used by data (``used_memory`` less the server's own at start)."""
    info = await redis.info("memory")
    return int(info["used_memory"]) - int(info.get("used_memory_startup", 0))


async def _diverged(store: SnapshotWriter, feeds: list[Feed]) -> int:
    """Games whose stored latest differs from a clean fold of the feed."""
    wrong = 0
    for feed in feeds:
        expected = fold(feed.events)
        stored = await store.load_game(feed.game_id)
        if expected is None or stored is None:
            wrong += expected is not stored
            continue
        same = (stored.home.score, stored.away.score, stored.status) == (
            expected.home.score,
            expected.away.score,
            expected.status,
        )
        wrong += not same
    return wrong


def main(
    files: list[Path],
    games: list[int],
    batch_size: int,
    json_path: Path | None,
    profile: int = 0,
    retire: bool = False,
) -> int:
    runs = [asyncio.run(run_publish(files, count, batch_size, profile, retire)) for count in games]
    print_table(
        [
            ("games", lambda r: str(r.games)),
            ("events / versions", lambda r: f"{r.events} / {r.versions}"),
            ("drained in", lambda r: f"{r.seconds:.1f} s"),
            ("versions / s", lambda r: f"{r.versions_per_second:.0f}"),
            ("CPU per version", lambda r: f"{r.cpu_us_per_version:.0f} µs"),
            ("game batches", lambda r: str(r.game_batches)),
            ("Redis round trips", lambda r: str(r.round_trips)),
            ("… a game batch's, each", lambda r: f"{r.round_trips_per_game_batch:.2f}"),
            ("… once per game, each", lambda r: f"{r.round_trips_once_per_game:.2f}"),
            ("… opening connections", lambda r: str(r.round_trips_connecting)),
            *(
                [
                    ("finals / retired", lambda r: f"{r.games_final} / {r.games_retired}"),
                    (
                        "Redis per game before / retired",
                        lambda r: (
                            f"{r.redis_kb_per_game_before:.0f} / "
                            f"{r.redis_kb_per_game_retired:.1f} KB"
                        ),
                    ),
                    ("games diverged from their feed", lambda r: str(r.games_diverged)),
                    (
                        "season tables (changed by retiring)",
                        lambda r: f"{r.season_tables} ({r.season_tables_changed})",
                    ),
                ]
                if retire
                else []
            ),
        ],
        runs,
        18,
    )
    if json_path is not None:
        json_path.write_text(json.dumps([asdict(run) for run in runs], indent=2) + "\n")
    return 0
