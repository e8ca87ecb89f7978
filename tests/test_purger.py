"""The purger against a real Varnish: purge after announce, nothing lost on failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from functools import partial

import httpx
import pytest
from redis.asyncio import Redis

from core import changes
from core.keys import game_key
from core.models import Game
from core.reducer import fold
from core.store import SnapshotWriter, Telling
from purger.service import Purger
from purger.settings import PurgerSettings
from purger.varnish import Looked, VarnishBackend
from tests.conftest import Edge
from tests.factories import short_game
from tests.helpers import eventually, running


def _game(upto: int, version: int, game_id: str = "g1") -> Game:
    game = fold(short_game(game_id)[:upto])
    assert game is not None
    return game.model_copy(update={"version": version})


async def _publish(store: SnapshotWriter, upto: int, version: int, game_id: str = "g1") -> None:
    await store.write(_game(upto, version, game_id))


def _purger(
    redis: Redis, redis_url: str, prefix: str, edge: Edge, token: str, verify_seconds: float = 1.0
) -> Purger:
    settings = PurgerSettings(
        redis_url=redis_url,
        redis_prefix=prefix,
        varnish_url=edge.url,
        purge_token=token,
        retry_initial_seconds=0.05,
        retry_max_seconds=0.2,
        verify_seconds=verify_seconds,
    )
    return Purger(settings)


async def _etag(edge: Edge, game_id: str = "g1") -> str:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{edge.url}/v1/games/{game_id}")
    return str(response.headers.get("ETag", ""))


async def test_each_announced_change_is_purged(
    redis: Redis, redis_service: str, prefix: str, store: SnapshotWriter, edge: Edge
) -> None:
    await _publish(store, 3, 1)
    purger = _purger(redis, redis_service, prefix, edge, edge.purge_token)
    async with running(purger):
        await eventually(lambda: purger.purged >= 1)
        assert await _etag(edge) == '"v1"'
        await _publish(store, 5, 2)
        await eventually(lambda: purger.purged >= 2)
        await eventually(lambda: _etag_is(edge, '"v2"'))
    assert purger.metrics.failure_counts() == {}
    pending = await redis.xpending(store.keys.change_streams[0], purger.settings.group)
    assert pending["pending"] == 0


def _purged_at_least(purger: Purger, count: int) -> bool:
    return purger.purged >= count


async def _etag_is(edge: Edge, value: str, game_id: str = "g1") -> bool:
    return await _etag(edge, game_id) == value


async def test_a_game_still_held_at_an_older_version_after_its_purge_is_purged_again(
    redis: Redis, redis_service: str, prefix: str, store: SnapshotWriter, edge: Edge
) -> None:
    """A purge does not reach a refresh under way: one that read the origin just before a
    version was written and ended after its purge leaves the older version cached as fresh,
    for the TTL (an hour) if no other purge comes. Here, as that refresh saw it, v2 is
    announced before it is readable: the purge's own refresh caches v1 again. Without a second
    look the edge keeps v1; with it, the purger purges once more and v2 is served."""

    async def announced_before_written(purger: Purger, game_id: str) -> None:
        entry = changes.fields(changes.VERSION, game_id, 2, [game_key(game_id)])
        stream = store.keys.change_stream(game_id)
        purged = purger.purged
        await store.tell([Telling(game_id, stream, entry, None)])
        await eventually(lambda: purger.purged > purged)
        await asyncio.sleep(0.3)  # the refresh the purge started has ended by now
        assert await _etag(edge, game_id) == '"v1"'
        await store.write_game(None, [], [_game(5, 2, game_id)], told=[])  # written, untold

    for game_id in ("g1", "g2"):
        await _publish(store, 3, 1, game_id)
        assert await _etag(edge, game_id) == '"v1"'
    once = _purger(redis, redis_service, prefix, edge, edge.purge_token, verify_seconds=0)
    async with running(once):
        await eventually(lambda: once.purged >= 2)
        await announced_before_written(once, "g1")
        await asyncio.sleep(2.5)
    assert await _etag(edge, "g1") == '"v1"'  # for the TTL
    assert once.repurged == 0

    twice = _purger(redis, redis_service, prefix, edge, edge.purge_token, verify_seconds=1.0)
    async with running(twice):
        await announced_before_written(twice, "g2")
        await eventually(lambda: _etag_is(edge, '"v2"', "g2"), 10)
    assert twice.repurged >= 1
    assert await _etag(edge, "g1") == '"v1"'  # announced before this purger: not its to check


async def test_a_failed_purge_stays_pending_until_it_succeeds(
    redis: Redis, redis_service: str, prefix: str, store: SnapshotWriter, edge: Edge
) -> None:
    await _publish(store, 3, 1)
    assert await _etag(edge) == '"v1"'
    await _publish(store, 5, 2)
    refused = _purger(redis, redis_service, prefix, edge, "not-the-token-at-all")
    async with running(refused):
        await eventually(lambda: sum(refused.metrics.failure_counts().values()) >= 2)
    assert refused.purged == 0
    pending = await redis.xpending(store.keys.change_streams[0], refused.settings.group)
    assert pending["pending"] == 2
    assert await _etag(edge) == '"v1"'  # nothing purged yet: still the cached copy

    # The same consumer, restarted with the right token, purges what it had not acknowledged.
    fixed = _purger(redis, redis_service, prefix, edge, edge.purge_token)
    async with running(fixed):
        await eventually(lambda: fixed.purged >= 2)
    await eventually(lambda: _etag_is(edge, '"v2"'))
    pending = await redis.xpending(store.keys.change_streams[0], fixed.settings.group)
    assert pending["pending"] == 0


async def test_the_queue_depth_is_asked_of_redis_at_most_once_a_second_a_stream(
    redis: Redis,
    redis_service: str,
    prefix: str,
    store: SnapshotWriter,
    edge: Edge,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    depth = changes.ChangeGroup.depth

    async def counted(group: changes.ChangeGroup) -> int | None:
        asked.append(group.stream)
        return await depth(group)

    monkeypatch.setattr(changes.ChangeGroup, "depth", counted)
    purger = _purger(redis, redis_service, prefix, edge, edge.purge_token)
    started = time.monotonic()
    async with running(purger):
        for game in range(1, 31):  # one batch each: the purger reads, purges and acks 30 times
            await _publish(store, 3, 1, f"g{game}")
            await eventually(partial(_purged_at_least, purger, game))
    seconds = time.monotonic() - started
    assert purger.calls >= 30
    assert asked, "the depth is still measured"
    for stream in set(asked):
        assert asked.count(stream) <= seconds + 1, (stream, asked.count(stream), seconds)
    depth_now = purger.metrics.registry.get_sample_value("scorecast_purge_queue_depth")
    assert depth_now is not None


@pytest.mark.parametrize("token", ["", "short", 'has"quote-has"quote'])
def test_a_bad_purge_token_fails_at_startup_without_showing_it(token: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)purge_token") as failure:
        PurgerSettings(purge_token=token)
    if token:
        assert token not in str(failure.value)


async def test_a_game_still_refreshing_at_the_second_look_is_looked_at_again(
    redis: Redis, redis_service: str, prefix: str, edge: Edge
) -> None:
    """A refresh begun before the purge and still under way at the second look (an origin
    slower than the look) shows the stale copy, and then brings the older version: the game
    is looked at once more, and purged then. The edge's answers are played here; the look
    itself is tested against Varnish above."""
    purger = _purger(redis, redis_service, prefix, edge, edge.purge_token, verify_seconds=0.1)
    assert isinstance(purger.backend, VarnishBackend)
    answers = [Looked([], ["g1"]), Looked(["g1"], [])]  # refreshing, then the older version
    asked: list[dict[str, int]] = []
    purged: list[list[str]] = []

    async def behind(announced: Mapping[str, int]) -> Looked:
        asked.append(dict(announced))
        return answers.pop(0) if answers else Looked([], [])

    async def purge(keys: Sequence[str]) -> None:
        purged.append(list(keys))

    purger.backend.behind = behind  # type: ignore[method-assign]
    purger.backend.purge = purge  # type: ignore[method-assign]
    purger._checks.append((time.monotonic(), "g1", 2, 0))
    stop = asyncio.Event()
    looking = asyncio.create_task(purger._verify(purger.backend, stop))
    try:
        await eventually(lambda: len(purged) == 1, 5)
    finally:
        stop.set()
        await looking
    assert asked[:2] == [{"g1": 2}, {"g1": 2}]
    assert purged == [[game_key("g1")]]
    assert purger.repurged == 1


async def test_the_second_look_tells_a_copy_still_refreshing_from_an_older_one(
    redis_service: str, prefix: str, store: SnapshotWriter, edge: Edge
) -> None:
    await _publish(store, 3, 1)
    assert await _etag(edge) == '"v1"'  # held at the edge
    settings = PurgerSettings(
        redis_url=redis_service,
        redis_prefix=prefix,
        varnish_url=edge.url,
        purge_token=edge.purge_token,
        refresh=False,  # nothing refreshes the purged copy before the look
    )
    backend = VarnishBackend(settings)
    try:
        await backend.purge([game_key("g1")])
        assert await backend.behind({"g1": 1}) == Looked([], ["g1"])  # stale; now refreshing

        async def late() -> bool:
            return await backend.behind({"g1": 2}) == Looked(["g1"], [])

        await eventually(late, 5)  # refreshed to v1, fresh, while v2 was announced
        assert await backend.behind({"g1": 1}) == Looked([], [])
    finally:
        await backend.aclose()
