"""Nothing goes backwards on any push path (architecture invariant 6): announcements repeated by
a restarted publisher, or interleaved by two during a rebalance, never hand a client a version
at or below the one it holds."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
from redis.asyncio import Redis

from core.changes import VERSION, Announcement, ChangeFeed
from core.errors import VersionConflictError
from core.keys import SCOREBOARD_CHANNEL, RedisKeys
from core.models import Game
from core.reducer import versions
from core.store import SnapshotWriter
from harness.sse import open_url
from streams.grip import GripTier
from streams.hub import Hub
from streams.records import PushRecords
from streams.settings import StreamTierSettings
from streams.tier import Held, StreamHold
from tests.factories import numbered_game, short_game


async def _published(store: SnapshotWriter, written: int) -> list[Game]:
    """Every version of the short game, one event each; the first ``written`` are written."""
    game: list[Game] = []
    for event in short_game("g1"):
        game += versions(game[-1] if game else None, [event]).versions
    for version in game[:written]:
        await store.write(version)
    return game


async def _announce_again(store: SnapshotWriter, *games: Game) -> None:
    """What a restarted publisher does for the newest version it finds, and what a stale
    member can do for an older one during a rebalance."""
    for game in games:
        await store.announce(game)


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resumed"])
async def test_a_direct_stream_skips_repeated_and_older_announcements(
    store: SnapshotWriter, origin: str, resume: bool
) -> None:
    game = await _published(store, written=4)
    held = game[3].version
    headers = {"Last-Event-ID": str(held)} if resume else {}
    stream = await open_url(origin, "/v1/games/g1/stream", headers)
    if not resume:
        assert [e.id for e in await stream.take(1)] == [held]
    await asyncio.sleep(0.3)  # the hub follows the change stream
    await _announce_again(store, game[1], game[3], game[0])
    await store.write(game[4])
    following = await stream.take(1)
    stream.close()
    assert [e.id for e in following] == [game[4].version]


async def test_a_direct_long_poll_waits_past_repeated_and_older_announcements(
    store: SnapshotWriter, origin: str
) -> None:
    game = await _published(store, written=3)
    held = game[2].version
    async with httpx.AsyncClient(base_url=origin, timeout=15) as http:
        waiting = asyncio.create_task(http.get(f"/v1/games/g1?after={held}"))
        await asyncio.sleep(0.3)
        await _announce_again(store, game[2], game[1])
        await asyncio.sleep(0.3)
        assert not waiting.done(), "answered with a version the client already holds"
        await store.write(game[3])
        response = await waiting
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"v{game[3].version}"'


async def test_the_scoreboard_stream_skips_repeated_announcements(
    store: SnapshotWriter, origin: str
) -> None:
    game = await _published(store, written=2)
    stream = await open_url(origin, "/v1/scoreboard/stream")
    board = await stream.take(1)
    assert board[0].event == "scoreboard"
    await asyncio.sleep(0.3)
    # The origin's hub pushed no row yet: the first repeat shows the current row once; the
    # older one after it shows nothing. (The repeat may be read after the next version is
    # written: it then shows that one's row, which its own announcement does not show again.)
    await _announce_again(store, game[1], game[0])
    await store.write(game[2])
    rows = await stream.take(1)
    while json.loads(rows[-1].data)["version"] < game[2].version:
        rows += await stream.take(1)
    with contextlib.suppress(TimeoutError):
        rows += await stream.take(1, seconds=1.0)  # nothing more comes
    stream.close()
    assert board[0].id is not None
    # A row carries its game's version, not an id: the client's last id stays the board's.
    shown = [(e.id, json.loads(e.data)["version"]) for e in rows]
    assert shown in (
        [(None, game[1].version), (None, game[2].version)],
        [(None, game[2].version)],
    )


async def test_a_repeat_read_after_a_newer_write_pushes_the_newer_row_once_under_its_kind(
    store: SnapshotWriter,
) -> None:
    """The race the stream test above meets only sometimes, made certain: a restarted
    publisher's repeat of version 2 is read after version 3 (another kind of change) was
    written. The row read is version 3's: it goes once, as a version 3 row, and version 3's
    own announcement, read next, adds nothing."""
    game = await _published(store, written=3)
    assert game[1].change != game[2].change  # the kinds differ, as in a real game
    hub = Hub(store, ChangeFeed.every(store.redis, store.keys), buffer=8)

    def announced(version: Game) -> Announcement:
        return Announcement("0-1", VERSION, version.game_id, version.version, [], version.change)

    with hub.subscribe(SCOREBOARD_CHANNEL) as rows:
        for version in (game[1], game[2], game[0]):
            await hub._dispatch(announced(version))
        pushed = [rows._queue.get_nowait() for _ in range(rows._queue.qsize())]
    assert [(p.event_id, json.loads(p.body)["version"]) for p in pushed if p] == [
        (None, game[2].version)
    ]
    assert pushed[0] is not None
    assert pushed[0].event.startswith(b"event: %s\n" % game[2].change.value.encode())


async def test_two_publishers_never_push_a_version_older_than_one_pushed(
    redis: Redis, prefix: str
) -> None:
    keys = RedisKeys(prefix)
    first, second = SnapshotWriter(redis, keys, 1000), SnapshotWriter(redis, keys, 1000)
    g1 = [numbered_game("g1", version) for version in range(1, 9)]

    async def claimed(
        writer: SnapshotWriter, versions: list[Game], claims: list[bool]
    ) -> list[int | None]:
        written = await writer.write_game(None, [], versions, claims)
        return [w.previous_pushed for w in written]

    assert await claimed(first, g1[4:5], [True]) == [0]  # nothing pushed before
    with pytest.raises(VersionConflictError):  # the stale member's older version: refused
        await claimed(second, g1[3:4], [True])
    await redis.set(keys.pushed("g1"), 6)  # a member pushed version 6 it never wrote
    assert await claimed(second, g1[5:6], [True]) == [None]  # the same one twice: not pushed
    # Its GRIP prev-id: what the proxy saw last; a version not to push is not claimed.
    assert await claimed(first, g1[6:8], [False, True]) == [None, 6]
    assert await redis.get(keys.pushed("g1")) == b"8"
    assert await claimed(first, [numbered_game("g2", 1)], [True]) == [0]  # per game


async def test_a_grip_connect_answer_stops_at_what_the_proxy_took_while_a_batch_is_on_its_way(
    store: SnapshotWriter,
) -> None:
    """Pushpin and Fanout relay what they are handed as is: a stream that connects while a
    batch's versions are still on their way to the proxy is not shown a newer version than
    the proxy took, or the older ones still coming would follow it."""
    records = PushRecords(store.redis, store.keys)
    tier = GripTier(StreamTierSettings(tier="pushpin", grip_key="k" * 40), records)
    folded = versions(None, short_game()).versions
    written = await store.write_game(None, [], folded, [True] * len(folded))
    numbers = [w.game.version for w in written]

    async def missed() -> list[tuple[int, bytes]]:
        return [(n, b"id: %d\n\n" % n) for n in numbers]

    async def connect() -> bytes:
        hold = StreamHold(Held.GAME_STREAM, "game-g1", "g1", None, 0, missed)
        return bytes((await tier.stream(hold)).body)

    await records.record_delivered("g1", numbers[0])  # the rest on their way
    assert b"id: %d\n" % numbers[0] in await connect()
    assert b"id: %d\n" % numbers[-1] not in await connect()  # still not taken after a wait

    # The hand-over lands while the connect waits: the connect shows it (a version handed
    # over before the proxy subscribes the connection would otherwise never reach it).
    async def hand_over() -> None:
        await asyncio.sleep(0.2)
        await records.record_delivered("g1", numbers[-1])

    delivering = asyncio.create_task(hand_over())
    assert b"id: %d\n" % numbers[-1] in await connect()
    await delivering
    assert b"id: %d\n" % numbers[-1] in await connect()  # all taken: the latest, at once


async def test_the_tiers_ids_of_a_games_pushed_versions_are_kept_within_bounds(
    store: SnapshotWriter,
) -> None:
    """A resuming stream finds the tier's id of the newest version at or below the one it
    holds; the ids kept stay near ``keep`` however long the game runs."""
    records = PushRecords(store.redis, store.keys)
    for version in range(1, 101):
        await records.record_held([("g1", version, f"{version}:0")], keep=10)
    assert await records.held_message("g1", 100) == "100:0"
    assert await records.held_message("g1", 95) == "95:0"
    assert await records.held_message("g1", 10_000) == "100:0"
    assert await store.redis.zcard(store.keys.held("g1")) == 10
    assert await records.held_message("g1", 1) is None  # long trimmed away
