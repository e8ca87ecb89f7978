"""The Python client against the real local stack: a stream cut, an edge restart, a burst of
304s; never a version at or below the one it holds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from scorecast_client import AsyncFollower, ClientError, Follower, Mode, Settings
from scorecast_client.policy import EventStream, Follow

from core.models import Game
from core.reducer import fold
from feeds.adapters import Feed, load
from feeds.replay import ReplaySettings, replay
from harness.fans import schedule
from local.stack import LocalStack
from tests.helpers import eventually

FAST = Settings(
    poll_interval=0.2,
    backoff_initial=0.05,
    backoff_max=0.5,
    failures_before_fallback=2,
    retry_stream_after=1.0,
    timeout=25.0,
)


async def _replay(stack: LocalStack, feed: Feed, upto: int) -> Game:
    part = Feed(feed.format, feed.game_id, feed.events[:upto])
    await asyncio.to_thread(replay, part, ReplaySettings(kafka_bootstrap=stack.bootstrap), 0, 0)
    game = fold(part.events)
    assert game is not None
    return game


@contextlib.asynccontextmanager
async def collecting(follower: AsyncFollower) -> AsyncIterator[list[dict[str, Any]]]:
    """The snapshots ``follower`` yields, gathered in the background while the block runs."""
    seen: list[dict[str, Any]] = []

    async def follow() -> None:
        async for snapshot in follower.snapshots():
            seen.append(snapshot)

    task = asyncio.create_task(follow())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_async_client_rides_out_a_stream_cut_and_an_edge_restart(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "hockey/nhl-apiweb-pbp_2023020001.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    follower = AsyncFollower(stack.edge_url, feed.game_id, FAST)

    def holds(game: Game) -> bool:
        return bool(seen) and seen[-1]["sequence"] == game.sequence

    async with collecting(follower) as seen:
        await eventually(lambda: seen, 20)
        assert follower.modes_used[0] is Mode.STREAM
        game = await _replay(stack, feed, 100)
        await eventually(lambda: holds(game), 30)
        stack.crash("holder")  # every held stream is cut
        game = await _replay(stack, feed, 200)
        await eventually(lambda: holds(game), 30)
        assert Mode.POLL in follower.modes_used  # streams and long-polls down: it polled
        stack.revive("holder")
        stack.crash("varnish")  # the edge restarts: nothing answers for a while
        game = await _replay(stack, feed, 250)
        await asyncio.sleep(1.0)
        stack.revive("varnish")
        await eventually(lambda: holds(game), 30)
        game = await _replay(stack, feed, len(feed.events))
        await eventually(lambda: holds(game), 30)
    versions = [snapshot["version"] for snapshot in seen]
    assert versions == sorted(set(versions))  # strictly increasing: never backwards or twice
    assert seen[-1]["status"] == "FINAL"
    assert (seen[-1]["home"]["score"], seen[-1]["away"]["score"]) == (5, 3)
    assert follower.modes_used[-1] is Mode.STREAM  # back on the stream once it came back


async def test_the_sync_client_polls_conditionally_and_stops_cleanly(
    stack: LocalStack, data_dir: Path
) -> None:
    feed = load(data_dir / "soccer/statsperform-ma3_71pif9hi2vwzp6q0xzilyxst0.json")
    await schedule(stack.edge_url, stack.bootstrap, feed)
    follower = Follower(
        stack.edge_url, feed.game_id, Settings(poll_interval=0.05, prefer=Mode.POLL)
    )
    got: list[int] = []

    def follow() -> None:
        for snapshot in follower.snapshots():
            got.append(snapshot["version"])
            if snapshot["status"] == "FINAL":
                return  # leaving the loop stops the follower

    thread = asyncio.to_thread(follow)
    waiting = asyncio.ensure_future(thread)
    await eventually(lambda: follower.state.not_modified >= 10, 20)  # a burst of 304s
    assert len(got) == 1  # ...handed to the application as nothing
    await _replay(stack, feed, len(feed.events))
    await asyncio.wait_for(waiting, 30)
    assert got == sorted(set(got))
    assert len(got) >= 2


def test_a_client_never_takes_an_older_or_repeated_version() -> None:
    follow = Follow()
    assert follow.accept({"version": 5})
    assert not follow.accept({"version": 5})
    assert not follow.accept({"version": 3})
    assert not follow.accept({"version": "7"})
    assert follow.accept({"version": 6})
    assert follow.poll_headers() == {"If-None-Match": '"v6"'}
    assert follow.stream_headers()["Last-Event-ID"] == "6"


def test_reconnect_waits_are_jittered_and_bounded() -> None:
    waits = []
    for seed in range(200):
        follow = Follow(Settings(backoff_initial=0.5, backoff_max=8, failures_before_fallback=99))
        follow.rng.seed(seed)
        waits.append([follow.failed(0.0) for _ in range(8)])
    assert all(0 <= wait <= 8 for row in waits for wait in row)
    firsts = {round(row[0], 3) for row in waits}
    assert len(firsts) > 150  # a crowd that lost the stream together comes back spread out


def test_a_failing_way_falls_back_then_returns_to_the_stream() -> None:
    follow = Follow(Settings(failures_before_fallback=2, retry_stream_after=10))
    modes = [follow.mode]
    for now in (0.0, 0.0, 1.0, 1.0):
        follow.failed(now)
        modes.append(follow.mode)
    for now in (5.0, 11.5):
        follow.maybe_back_to_stream(now)
        modes.append(follow.mode)
    stream, long_poll, poll = Mode.STREAM, Mode.LONG_POLL, Mode.POLL
    assert modes == [stream, stream, long_poll, long_poll, poll, poll, stream]


def test_event_stream_lines_become_snapshots() -> None:
    parser = EventStream()
    lines = [": heartbeat", "", "id: 3", "event: score", 'data: {"version": 3}', ""]
    found = [parser.feed(line) for line in lines]
    assert [item for item in found if item is not None] == [{"version": 3}]


async def test_a_malformed_game_id_is_the_callers_error(stack: LocalStack) -> None:
    follower = AsyncFollower(stack.edge_url, "bad id!", FAST)
    started = time.monotonic()
    with pytest.raises(ClientError, match="400"):
        async for _ in follower.snapshots():
            pass
    assert time.monotonic() - started < 10
