"""Nothing goes backwards on any push path (architecture invariant 6): announcements repeated by
a restarted publisher, or interleaved by two during a rebalance, never hand a client a version
at or below the one it holds."""

from __future__ import annotations

import asyncio

import httpx
from redis.asyncio import Redis

from bench.sse import open_url
from core.keys import RedisKeys
from core.models import Game
from core.reducer import versions
from core.store import SnapshotWriter
from tests.factories import short_game


async def _published(store: SnapshotWriter, game_id: str = "g1") -> list[Game]:
    """Every version of the short game, one event each; the first one written."""
    game: list[Game] = []
    for event in short_game(game_id):
        game += versions(game[-1] if game else None, [event]).versions
    await _write(store, game[0])
    return game


async def _write(store: SnapshotWriter, game: Game) -> None:
    await store.write(game)


async def _announce_again(store: SnapshotWriter, *games: Game) -> None:
    """What a restarted publisher does for the newest version it finds, and what a stale
    member can do for an older one during a rebalance."""
    for game in games:
        await store.announce(game)


async def test_a_direct_stream_skips_repeated_and_older_announcements(
    store: SnapshotWriter, origin: str
) -> None:
    game = await _published(store)
    for version in game[1:3]:
        await _write(store, version)
    stream = await open_url(origin, "/v1/games/g1/stream")
    first = await stream.take(1)
    assert [e.id for e in first] == [game[2].version]
    await asyncio.sleep(0.3)  # the hub follows the change stream
    await _announce_again(store, game[1], game[2], game[0])
    await _write(store, game[3])
    following = await stream.take(1)
    stream.close()
    assert [e.id for e in following] == [game[3].version]


async def test_a_direct_long_poll_waits_past_repeated_and_older_announcements(
    store: SnapshotWriter, origin: str
) -> None:
    game = await _published(store)
    for version in game[1:3]:
        await _write(store, version)
    held = game[2].version
    async with httpx.AsyncClient(base_url=origin, timeout=15) as http:
        waiting = asyncio.create_task(http.get(f"/v1/games/g1?after={held}"))
        await asyncio.sleep(0.3)
        await _announce_again(store, game[2], game[1])
        await asyncio.sleep(0.3)
        assert not waiting.done(), "answered with a version the client already holds"
        await _write(store, game[3])
        response = await waiting
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"v{game[3].version}"'


async def test_a_resumed_stream_never_repeats_the_version_it_resumes_from(
    store: SnapshotWriter, origin: str
) -> None:
    game = await _published(store)
    for version in game[1:4]:
        await _write(store, version)
    held = game[3].version
    stream = await open_url(origin, "/v1/games/g1/stream", {"Last-Event-ID": str(held)})
    await asyncio.sleep(0.3)
    await _announce_again(store, game[3], game[2])
    await _write(store, game[4])
    events = await stream.take(1)
    stream.close()
    assert [e.id for e in events] == [game[4].version]


async def test_the_scoreboard_stream_skips_repeated_announcements(
    store: SnapshotWriter, origin: str
) -> None:
    game = await _published(store)
    await _write(store, game[1])
    stream = await open_url(origin, "/v1/scoreboard/stream")
    board = await stream.take(1)
    assert board[0].event == "scoreboard"
    await asyncio.sleep(0.3)
    await _announce_again(store, game[1], game[0])  # rows unchanged: the board keeps its version
    await _write(store, game[2])
    rows = await stream.take(1)
    stream.close()
    assert board[0].id is not None
    assert [e.id for e in rows] == [board[0].id + 1]


async def test_two_publishers_never_push_a_version_older_than_one_pushed(
    redis: Redis, prefix: str
) -> None:
    keys = RedisKeys(prefix)
    first = SnapshotWriter(redis, keys, changes_maxlen=1000)
    second = SnapshotWriter(redis, keys, changes_maxlen=1000)
    assert await first.claim_push("g1", 5) == 0  # nothing pushed before
    assert await second.claim_push("g1", 4) is None  # the stale member's older version
    assert await second.claim_push("g1", 5) is None  # nor the same one twice
    assert await second.claim_push("g1", 6) == 5  # its GRIP prev-id: what the proxy saw last
    assert await first.claim_push("g1", 6) is None
    assert await first.claim_push("g2", 1) == 0  # per game
