"""Push from the origin itself (no GRIP proxy): SSE streams, resume by version, long-polls."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from core.changes import ChangeFeed, Read
from core.errors import StoreUnavailableError
from core.models import Game
from core.reducer import change_kind, fold, versions
from core.store import SnapshotWriter
from harness.sse import open_url
from local.process import free_port
from origin.app import create_app
from origin.settings import OriginSettings
from streams.hub import Hub, Push, SlowSubscriberError
from tests.conftest import ThreadedServer
from tests.factories import short_game
from tests.helpers import eventually


async def _publish(store: SnapshotWriter, upto: int, version: int, game_id: str = "g1") -> None:
    """Publish version ``version`` of the short game after ``upto`` events, as the publisher
    would (with what changed since the version before)."""
    game = fold(short_game(game_id)[:upto])
    previous = await store.load_game(game_id)
    assert game is not None
    published = game.model_copy(update={"version": version, "change": change_kind(previous, game)})
    await store.write(published)


async def test_stream_sends_the_current_version_then_each_new_one(
    store: SnapshotWriter, origin: str
) -> None:
    await _publish(store, 2, 1)
    stream = await open_url(origin, "/v1/games/g1/stream")
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    first = await stream.take(1)
    await asyncio.sleep(0.2)  # the hub is following the change stream
    for upto, version in ((3, 2), (4, 3), (8, 4)):
        await _publish(store, upto, version)
    rest = await stream.take(3)
    stream.close()
    assert [e.id for e in first + rest] == [1, 2, 3, 4]
    assert [e.event for e in rest] == ["score", "score", "final"]
    assert Game.model_validate_json(rest[-1].data).status == "FINAL"


async def test_a_batch_announced_once_reaches_the_stream_version_by_version(
    store: SnapshotWriter, origin: str
) -> None:
    """The publisher announces a game's batch in one entry: a held stream still gets every
    version, in order, each with what it changed."""
    events = short_game("g1")
    first = versions(None, events[:2])
    await store.write_game(None, first.plays, first.versions)
    stream = await open_url(origin, "/v1/games/g1/stream")
    shown = await stream.take(1)
    await asyncio.sleep(0.2)
    batch = versions(first.versions[-1], events[2:])
    assert len(batch.versions) >= 3
    await store.write_game(first.versions[-1], batch.plays, batch.versions)
    pushed = await stream.take(len(batch.versions))
    stream.close()
    assert [e.id for e in shown + pushed] == [first.versions[-1].version] + [
        v.version for v in batch.versions
    ]
    assert [e.event for e in pushed] == [v.change.value for v in batch.versions]
    entries = await store.redis.xlen(store.keys.change_stream("g1"))
    assert entries == 2  # one announcement per batch


async def test_last_event_id_resumes_with_exactly_what_was_missed(
    store: SnapshotWriter, origin: str
) -> None:
    for version in range(1, 6):
        await _publish(store, version + 1, version)
    stream = await open_url(origin, "/v1/games/g1/stream", {"Last-Event-ID": "2"})
    events = await stream.take(3)
    stream.close()
    assert [e.id for e in events] == [3, 4, 5]
    # The same through the query string, for clients that reconnect by hand.
    stream = await open_url(origin, "/v1/games/g1/stream?lastEventId=4")
    assert [e.id for e in await stream.take(1)] == [5]
    stream.close()


async def test_a_client_too_far_behind_gets_one_full_snapshot(
    store: SnapshotWriter, origin_settings: object, origin: str
) -> None:
    for version in range(1, 60):
        await _publish(store, min(version + 1, 7), version)  # same state, new versions
    stream = await open_url(origin, "/v1/games/g1/stream", {"Last-Event-ID": "1"})
    events = await stream.take(1)
    stream.close()
    assert [e.id for e in events] == [59]  # 58 behind > resume limit 50: not the whole game


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/v1/games/nope/stream", {}, 404, "unknown_game"),
        ("/v1/games/g1/stream", {"Last-Event-ID": "x" * 5000}, 400, "bad_last_event_id"),
        ("/v1/games/g1/stream", {"Last-Event-ID": "-1"}, 400, "bad_last_event_id"),
        ("/v1/games/g1/stream?lastEventId=9999999999999", {}, 400, "bad_last_event_id"),
        ("/v1/games/g1?after=abc", {}, 400, "bad_after"),
        ("/v1/games/g1?after=1%0A", {}, 400, "bad_after"),
        ("/v1/games/g1/stream?lastEventId=1%0A", {}, 400, "bad_last_event_id"),
        ("/v1/games/nope?after=1", {}, 404, "unknown_game"),
    ],
)
async def test_bad_stream_requests_are_clear_4xx(
    store: SnapshotWriter,
    origin: str,
    path: str,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    await _publish(store, 2, 1)
    async with httpx.AsyncClient(base_url=origin, timeout=5) as http:
        response = await http.get(path, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_long_poll_answers_when_a_newer_version_exists(
    store: SnapshotWriter, origin: str
) -> None:
    await _publish(store, 2, 1)
    async with httpx.AsyncClient(base_url=origin, timeout=10) as http:
        waiting = asyncio.create_task(http.get("/v1/games/g1?after=1"))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await _publish(store, 3, 2)
        response = await waiting
        assert response.status_code == 200
        assert response.headers["ETag"] == '"v2"'
        assert response.headers["Cache-Control"] == "no-store"
        # Already behind: answered at once.
        quick = await http.get("/v1/games/g1?after=0")
        assert json.loads(quick.content)["version"] == 2


async def test_scoreboard_stream_starts_with_the_board_then_rows(
    store: SnapshotWriter, origin: str
) -> None:
    await _publish(store, 2, 1, "g1")
    stream = await open_url(origin, "/v1/scoreboard/stream")
    first = await stream.take(1)
    assert first[0].event == "scoreboard"
    assert [g["game_id"] for g in json.loads(first[0].data)["games"]] == ["g1"]
    await asyncio.sleep(0.2)
    await _publish(store, 3, 1, "g2")
    row = await stream.take(1)
    stream.close()
    assert first[0].id is not None
    assert row[0].id is None  # a row; the board's version is the stream's last id
    assert json.loads(row[0].data)["game_id"] == "g2"
    # Reconnecting with the board's id: the whole board again, since it changed.
    again = await open_url(origin, "/v1/scoreboard/stream", {"Last-Event-ID": str(first[0].id)})
    board = await again.take(1)
    again.close()
    assert board[0].event == "scoreboard"
    assert board[0].id is not None
    assert board[0].id > first[0].id
    assert [g["game_id"] for g in json.loads(board[0].data)["games"]] == ["g1", "g2"]


async def test_a_subscriber_that_stops_reading_is_cut_off_and_memory_stays_bounded(
    store: SnapshotWriter,
) -> None:
    hub = Hub(store, ChangeFeed.every(store.redis, store.keys), buffer=8)
    with hub.subscribe("game-g1") as slow, hub.subscribe("game-g1") as fast:
        for number in range(1, 1001):
            push = Push(number, b"x" * 1000, b"{}")
            hub._deliver("game-g1", push)
            await fast.next()  # the fast one keeps up
        assert slow.overflowed
        assert slow._queue.qsize() == 8  # never more than its buffer
        with pytest.raises(SlowSubscriberError):
            await slow.next()
        assert hub.subscribers() == 1
        assert hub.cut_off == 1


async def test_an_origin_holding_its_most_streams_answers_503_and_stays_healthy(
    store: SnapshotWriter, origin_settings: OriginSettings
) -> None:
    """Past ``SCORECAST_STREAMS_MAX_HELD`` a stream or long-poll is a clear 503 with
    Retry-After (the client retries elsewhere or later), and health checks still answer."""
    await _publish(store, 2, 1)
    settings = origin_settings.model_copy(update={"max_held": 2, "metrics_port": 0})
    with ThreadedServer(create_app(settings), free_port()) as server:
        held = [await open_url(server.url, "/v1/games/g1/stream") for _ in range(2)]
        for stream in held:
            assert len(await stream.take(1)) == 1
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
            for path in ("/v1/games/g1/stream", "/v1/games/g1?after=1"):
                refused = await http.get(path)
                assert refused.status_code == 503
                assert refused.json()["error"]["code"] == "streams_full"
                assert 2 <= int(refused.headers["Retry-After"]) <= 10
            assert (await http.get("/healthz")).status_code == 200
        for stream in held:
            stream.close()


class _CountedFeed(ChangeFeed):
    """A change feed that counts its reads."""

    reads = 0

    async def after(self, last_id: str, block_ms: int, count: int) -> Read:
        self.reads += 1
        return await super().after(last_id, block_ms, count)


class _SlowPlaceFeed(ChangeFeed):
    """A change feed whose reader is slow to find its place."""

    async def last_id(self) -> str:
        await asyncio.sleep(0.05)
        return await super().last_id()


class _CancelTurnedToErrorFeed(ChangeFeed):
    """A change feed whose calls, when cancelled, end in a store error instead: what redis-py
    does when the disconnect that follows a cancelled read fails in turn."""

    calls = 0
    #: Set by the test once it has its answer: a reader still calling then is stopped.
    ended = False

    async def _turned(self) -> None:
        """After the first call (which finds the reader's place), each waits until cancelled."""
        self.calls += 1
        if self.calls == 1:
            return
        if self.ended:
            raise asyncio.CancelledError
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise StoreUnavailableError("redis: ConnectionError: closed while cancelled") from None

    async def last_id(self) -> str:
        await self._turned()
        return await super().last_id()

    async def after(self, last_id: str, block_ms: int, count: int) -> Read:
        await self._turned()
        return await super().after(last_id, block_ms, count)


@pytest.mark.parametrize("wanted", [False, True], ids=["resting", "following"])
async def test_a_hub_stops_when_cancelled_even_if_its_store_calls_turn_the_cancel_into_errors(
    store: SnapshotWriter, wanted: bool
) -> None:
    feeds = [_CancelTurnedToErrorFeed(store.redis, s) for s in store.keys.change_streams]
    hub = Hub(store, list(feeds), buffer=8)
    with hub.subscribe("game:g1") if wanted else contextlib.nullcontext():
        task = asyncio.create_task(hub.run())
        await eventually(lambda: hub.healthy and all(f.calls > 1 for f in feeds), 5)
        task.cancel()  # each reader is in the middle of a call
        done, _ = await asyncio.wait({task}, timeout=5)
    for feed in feeds:
        feed.ended = True
    assert done, "the hub's readers went on after it was cancelled"
    assert task.cancelled()


@contextlib.asynccontextmanager
async def _running(hub: Hub) -> AsyncIterator[None]:
    """The hub's readers, ready, for the block's length."""
    task = asyncio.create_task(hub.run())
    try:
        await eventually(lambda: hub.healthy, 5)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_hub_nobody_subscribes_to_reads_no_announcement_and_wakes_for_a_subscriber(
    store: SnapshotWriter,
) -> None:
    feeds = [_CountedFeed(store.redis, stream) for stream in store.keys.change_streams]
    hub = Hub(store, list(feeds), buffer=8, rest_after=0.1)
    async with _running(hub):
        for version in range(1, 4):
            await _publish(store, version + 1, version)
        await asyncio.sleep(0.3)
        assert sum(feed.reads for feed in feeds) == 0  # resting, and ready all along
        assert hub.healthy
        with hub.subscribe("game-g1") as subscription:
            await hub.following()
            await _publish(store, 5, 4)
            push = await asyncio.wait_for(subscription.next(), 5)
        assert push is not None
        assert push.event_id == 4
        # The last subscriber gone, the readers rest again once their read returns.
        await eventually(lambda: not any(e.is_set() for e in hub._positioned.values()), 5)
        reads = sum(feed.reads for feed in feeds)
        await _publish(store, 6, 5)
        await asyncio.sleep(0.3)
        assert sum(feed.reads for feed in feeds) == reads


async def test_subscribers_waking_a_resting_hub_while_versions_are_written_miss_none(
    store: SnapshotWriter,
) -> None:
    """Each subscriber reads the newest version from the store once the hub follows, as a
    stream reads what its client missed: the pushes go on from the very next version. The
    readers take 50 ms to find their place (a busy Redis), while versions keep coming."""
    feeds = [_SlowPlaceFeed(store.redis, stream) for stream in store.keys.change_streams]
    hub = Hub(store, list(feeds), buffer=1000, rest_after=0.05)
    game = fold(short_game("g1")[:3])
    assert game is not None
    written = 0
    stop = asyncio.Event()

    async def write() -> None:
        nonlocal written
        while not stop.is_set():
            written += 1
            await store.write(game.model_copy(update={"version": written}))
            await asyncio.sleep(0.002)

    writer = asyncio.create_task(write())
    try:
        async with _running(hub):
            await _wake_and_follow(hub, store, lambda: written)
    finally:
        stop.set()
        await writer


async def _wake_and_follow(hub: Hub, store: SnapshotWriter, written: Callable[[], int]) -> None:
    """Fifteen times: wait until the hub rests, wake it with a subscriber, and check that
    the pushes go on from the very next version after the newest it reads."""
    await eventually(lambda: written() > 0, 5)
    for _ in range(15):
        # Resting: every reader has let go of its place.
        await eventually(lambda: not any(e.is_set() for e in hub._positioned.values()), 5)
        with hub.subscribe("game-g1") as subscription:
            await hub.following()
            latest = await store.latest("g1")
            assert latest is not None
            newer: list[int] = []
            while len(newer) < 3:  # pushes of versions it read already are skipped
                push = await asyncio.wait_for(subscription.next(), 5)
                assert push is not None
                if push.event_id is not None and push.event_id > latest.version:
                    newer.append(push.event_id)
        assert newer == [latest.version + 1, latest.version + 2, latest.version + 3]


async def test_a_subscriber_waiting_for_the_readers_ends_when_the_hub_closes(
    store: SnapshotWriter,
) -> None:
    hub = Hub(store, ChangeFeed.every(store.redis, store.keys), buffer=8)
    with hub.subscribe("game-g1") as subscription:
        waiting = asyncio.create_task(hub.following())  # no reader runs: it would wait 10 s
        await asyncio.sleep(0.1)
        hub.close()
        await asyncio.wait_for(waiting, 1)
        assert await asyncio.wait_for(subscription.next(), 1) is None


async def test_a_subscriber_of_a_closed_hub_ends_at_once(store: SnapshotWriter) -> None:
    hub = Hub(store, ChangeFeed.every(store.redis, store.keys), buffer=8)
    hub.close()  # shutting down: no reader will take its place again
    with hub.subscribe("game-g1") as subscription:
        await asyncio.wait_for(hub.following(), 1)
        assert await asyncio.wait_for(subscription.next(), 1) is None
