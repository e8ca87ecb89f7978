"""Failures are loud and healed: a broken change-stream reader fails the origin's readiness and
restarts; changes held by a purger that died for good are taken over by another."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from redis.asyncio import Redis

from core.errors import ScorecastError, StoreUnavailableError, VersionConflictError
from core.keys import RedisKeys
from core.reducer import versions
from core.store import SnapshotReader, SnapshotWriter
from harness.sse import open_url
from publisher.service import PublisherError
from purger.backends import PurgeError
from purger.service import Purger
from purger.settings import PurgerSettings
from streams.hub import SlowSubscriberError
from streams.tier import PushError
from tests.conftest import Edge
from tests.factories import short_game
from tests.helpers import eventually, running


async def _ready(origin: str) -> int:
    async with httpx.AsyncClient(base_url=origin, timeout=5) as http:
        return (await http.get("/readyz")).status_code


async def test_a_broken_change_stream_fails_readiness_and_the_hub_recovers(
    store: SnapshotWriter, origin: str
) -> None:
    game = versions(None, short_game("g1")).versions
    await store.write(game[0])
    await eventually(lambda: _ready_is(origin, 200))
    # A key of the wrong type where the stream should be: every read of it fails (WRONGTYPE),
    # while Redis itself answers pings.
    await store.redis.delete(store.keys.change_streams[0])
    await store.redis.set(store.keys.change_streams[0], "not a stream")
    await eventually(lambda: _ready_is(origin, 503))
    async with httpx.AsyncClient(base_url=origin, timeout=5) as http:
        error = (await http.get("/readyz")).json()["error"]
    assert error["code"] == "unavailable"
    assert "change stream reader down" in error["message"]

    await store.redis.delete(store.keys.change_streams[0])
    await eventually(lambda: _ready_is(origin, 200))
    # Restarted where it was: a direct stream receives the next version again.
    stream = await open_url(origin, "/v1/games/g1/stream")
    assert [e.id for e in await stream.take(1)] == [game[0].version]
    await asyncio.sleep(0.3)
    await store.write(game[1])
    assert [e.id for e in await stream.take(1)] == [game[1].version]
    stream.close()


async def _ready_is(origin: str, status: int) -> bool:
    return await _ready(origin) == status


def _purger_settings(redis_url: str, prefix: str, edge: Edge, **extra: object) -> PurgerSettings:
    values: dict[str, object] = {
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "varnish_url": edge.url,
        "purge_token": edge.purge_token,
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.2,
        **extra,
    }
    return PurgerSettings(**values)  # type: ignore[arg-type]


async def test_changes_of_a_purger_that_died_for_good_are_taken_over(
    redis: Redis, redis_service: str, prefix: str, store: SnapshotWriter, edge: Edge
) -> None:
    game = versions(None, short_game("g1")).versions
    await store.write(game[0])
    async with httpx.AsyncClient(base_url=edge.url, timeout=5) as http:
        assert (await http.get("/v1/games/g1")).headers["ETag"] == f'"v{game[0].version}"'
    # Purger A reads the changes but cannot purge (the edge refuses its token), then dies
    # without acknowledging anything, and never comes back.
    doomed = Purger(
        _purger_settings(
            redis_service, prefix, edge, consumer="purger-a", purge_token="refused-token-0123"
        )
    )
    for version in game[1:4]:
        await store.write(version)
    async with doomed:
        # Started once all four are announced: it reads them in one batch, then retries that
        # batch's purge (in order: it reads no further while one fails).
        task = asyncio.create_task(doomed.run(asyncio.Event()))
        try:
            await eventually(lambda: _pending_of(redis, prefix, "purger-a", 4))
        finally:
            task.cancel("killed")
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert doomed.purged == 0

    # Purger B, the other of the two, takes A's changes over once they have been idle a while.
    survivor = Purger(
        _purger_settings(redis_service, prefix, edge, consumer="purger-b", claim_idle_seconds=0.5)
    )
    async with running(survivor):
        await eventually(lambda: survivor.claimed >= 4)
        await eventually(lambda: _pending_of(redis, prefix, "purger-a", 0))
        await eventually(lambda: _edge_shows(edge, game[3].version))
    pending = await redis.xpending(RedisKeys(prefix).change_streams[0], survivor.settings.group)
    assert pending["pending"] == 0
    assert survivor.purged >= 4


async def _pending_of(redis: Redis, prefix: str, consumer: str, count: int) -> bool:
    summary = await redis.xpending(RedisKeys(prefix).change_streams[0], "scorecast-purger")
    held = {
        bytes(entry["name"]).decode() if isinstance(entry["name"], bytes) else entry["name"]: int(
            entry["pending"]
        )
        for entry in summary.get("consumers", [])
    }
    return bool(held.get(consumer, 0) == count)


async def _edge_shows(edge: Edge, version: int) -> bool:
    async with httpx.AsyncClient(base_url=edge.url, timeout=5) as http:
        return bool((await http.get("/v1/games/g1")).headers.get("ETag") == f'"v{version}"')


async def test_an_unreadable_announcement_stops_no_reader(
    redis: Redis,
    redis_service: str,
    prefix: str,
    store: SnapshotWriter,
    origin: str,
    edge: Edge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stream entry this code cannot read is logged and passed over once: the hub reads on
    (no hot loop on it), the purger acknowledges it instead of holding it for ever."""
    game = versions(None, short_game("g1")).versions
    await store.write(game[0])
    stream = await open_url(origin, "/v1/games/g1/stream")
    assert [e.id for e in await stream.take(1)] == [game[0].version]
    await asyncio.sleep(0.3)
    await redis.xadd(store.keys.change_streams[0], {"kind": "version", "version": "not a number"})

    def unreadable() -> int:
        return sum("unreadable" in r.getMessage() for r in caplog.records)

    await eventually(lambda: unreadable() >= 1)
    await asyncio.sleep(1.0)  # the newest entry is the bad one: read once, not again and again
    assert unreadable() == 1
    await store.write(game[1])
    assert [e.id for e in await stream.take(1)] == [game[1].version]
    stream.close()
    assert await _ready(origin) == 200

    purger = Purger(_purger_settings(redis_service, prefix, edge))
    async with running(purger):
        await eventually(lambda: purger.purged >= 2)
    pending = await redis.xpending(store.keys.change_streams[0], purger.settings.group)
    assert pending["pending"] == 0


async def test_a_lost_redis_is_our_error_not_redis_pys(prefix: str) -> None:
    reader = SnapshotReader(Redis.from_url("redis://127.0.0.1:1", socket_timeout=1), RedisKeys())
    try:
        with pytest.raises(StoreUnavailableError, match="redis: ConnectionError"):
            await reader.latest("g1")
    finally:
        await reader.redis.aclose()


def test_every_component_error_is_under_the_root() -> None:
    for error in (
        StoreUnavailableError,
        VersionConflictError,
        SlowSubscriberError,
        PublisherError,
        PushError,
        PurgeError,
    ):
        assert issubclass(error, ScorecastError), error
