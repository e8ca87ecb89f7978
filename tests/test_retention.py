"""Memory that ends: a finished game retires after its retention and keeps what its views read."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from core.errors import GameRetiredError
from core.keys import RedisKeys
from core.models import GameStatus
from core.reducer import versions
from core.store import SnapshotWriter
from feeds.adapters import load
from feeds.ledger import FeedLedger
from publisher.retirement import Retirement

#: What a retired game may keep in Redis, at most (the match-day issue's bound).
RETIRED_BYTES = 50_000


async def _game_bytes(redis: Redis, keys: RedisKeys, game_id: str) -> int:
    found = [key async for key in redis.scan_iter(f"{keys.prefix}:{{game:{game_id}}}:*")]
    return sum([int(await redis.memory_usage(key) or 0) for key in found])


async def _write_in_batches(store: SnapshotWriter, file: Path) -> str:
    """The recorded game as the publisher writes it: a batch of 40 events at a time."""
    feed = load(file)
    state = None
    for start in range(0, len(feed.events), 40):
        folded = versions(state, feed.events[start : start + 40])
        await store.write_game(state, folded.plays, folded.versions)
        state = folded.versions[-1] if folded.versions else state
    assert state is not None
    assert state.status is GameStatus.FINAL
    return feed.game_id


@pytest.fixture
def retiring_store(redis: Redis, prefix: str) -> SnapshotWriter:
    return SnapshotWriter(redis, RedisKeys(prefix), 10_000, retention_seconds=0)


async def test_a_finished_game_retires_to_what_its_views_read(
    retiring_store: SnapshotWriter, redis: Redis, nba_file: Path, origin: str
) -> None:
    store = retiring_store
    game_id = await _write_in_batches(store, nba_file)
    # The origin fixture reads the same prefix: the views before, then after.
    async with httpx.AsyncClient(base_url=origin, timeout=10) as http:
        paths = [
            f"/v1/games/{game_id}",
            f"/v1/games/{game_id}/boxscore",
            f"/liveData/playbyplay/playbyplay_{game_id}.json",
            f"/liveData/boxscore/boxscore_{game_id}.json",
            "/v1/scoreboard",
        ]
        before = {path: (await http.get(path)).content for path in paths}
        latest = (await store.latest(game_id)) or pytest.fail("no latest")
        used = await _game_bytes(redis, store.keys, game_id)

        assert await Retirement(store, 60).sweep() == 1
        kept = await _game_bytes(redis, store.keys, game_id)
        print(f"\n{game_id}: {used / 1000:.0f} KB before retirement, {kept / 1000:.1f} KB after")
        assert kept <= RETIRED_BYTES
        assert kept < used / 4
        after = {path: (await http.get(path)).content for path in paths}
        assert after == before  # every view reads the same
        assert await store.version_numbers(game_id) == [latest.version]
        final = await http.get(f"/v1/games/{game_id}/versions/{latest.version}")
        assert final.status_code == 200
        gone = await http.get(f"/v1/games/{game_id}/versions/1")
        assert gone.status_code == 410
        assert gone.json()["error"]["code"] == "version_retired"
        assert gone.headers["Link"] == f'</v1/games/{game_id}>; rel="latest-version"'
        assert "immutable" in gone.headers["Cache-Control"]
        # A version that never was is still unknown, not gone.
        ahead = await http.get(f"/v1/games/{game_id}/versions/{latest.version + 1}")
        assert ahead.status_code == 404
    # Nothing left to retire; its feed is closed rather than counted again from nothing.
    assert await Retirement(store, 60).sweep() == 0
    with pytest.raises(GameRetiredError):
        await FeedLedger(redis, store.keys).load(game_id)


async def test_a_correction_after_retirement_keeps_every_play(
    retiring_store: SnapshotWriter, nba_file: Path
) -> None:
    store = retiring_store
    game_id = await _write_in_batches(store, nba_file)
    view = await store.game_view(game_id)
    assert view is not None
    assert await store.retire(game_id)
    state = await store.load_game(game_id)
    assert state is not None
    # The provider corrects the last play after the game retired: a new version.
    last = load(nba_file).events[-1]
    fixed = last.model_copy(update={"sequence": state.sequence + 1, "description": "corrected"})
    folded = versions(state, [fixed])
    await store.write_game(state, folded.plays, folded.versions)
    again = await store.game_view(game_id)
    assert again is not None
    # The record's line is replaced (the new line over the packed one); the rest are as kept.
    assert len(again.plays) == len(view.plays)
    assert again.plays[:-1] == view.plays[:-1]
    assert again.plays[-1]["event"]["description"] == "corrected"
    # Due again (its final moved the retirement later), and retires again.
    assert await store.retiring(float("inf"), 10) == [game_id]
    assert await store.retire(game_id)


async def test_a_game_not_final_never_retires(
    retiring_store: SnapshotWriter, nba_file: Path
) -> None:
    feed = load(nba_file)
    folded = versions(None, feed.events[:50])
    await retiring_store.write_game(None, folded.plays, folded.versions)
    assert await retiring_store.retiring(float("inf"), 10) == []
