"""The purger against a real Varnish: purge after announce, nothing lost on failure."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis

from core.reducer import fold
from core.store import SnapshotWriter
from purger.service import Purger
from purger.settings import PurgerSettings
from tests.conftest import Edge
from tests.factories import short_game
from tests.helpers import eventually, running


async def _publish(store: SnapshotWriter, upto: int, version: int) -> None:
    game = fold(short_game("g1")[:upto])
    assert game is not None
    await store.write(game.model_copy(update={"version": version}))


def _purger(redis: Redis, redis_url: str, prefix: str, edge: Edge, token: str) -> Purger:
    settings = PurgerSettings(
        redis_url=redis_url,
        redis_prefix=prefix,
        varnish_url=edge.url,
        purge_token=token,
        retry_initial_seconds=0.05,
        retry_max_seconds=0.2,
    )
    return Purger(settings)


async def _etag(edge: Edge) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{edge.url}/v1/games/g1")
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


async def _etag_is(edge: Edge, value: str) -> bool:
    return await _etag(edge) == value


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


@pytest.mark.parametrize("token", ["", "short", 'has"quote-has"quote'])
def test_a_bad_purge_token_fails_at_startup_without_showing_it(token: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)purge_token") as failure:
        PurgerSettings(purge_token=token)
    if token:
        assert token not in str(failure.value)
