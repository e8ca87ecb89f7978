"""The follower against real Redis and the broker and a provider stand-in: which games it
follows and when (time given to its scans, so a day takes no time), and how instances share
them and take over a crashed one's."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.models import Game, GameStatus, Sport, TeamScore
from core.settings import KafkaSettings
from core.store import SnapshotWriter
from local.process import free_port
from poller.follower import Follower
from poller.settings import FollowerSettings
from tests.conftest import ThreadedServer
from tests.feed_documents import LiveDocuments
from tests.helpers import eventually
from tests.helpers import produced as events_of_games

START = datetime(2026, 4, 12, 23, 30, tzinfo=UTC)


@pytest.fixture
def provider(data_dir: Path) -> Iterator[tuple[LiveDocuments, str]]:
    document = json.loads(
        (data_dir / "basketball" / "nba-cdn-livedata_0022000001.json").read_bytes()
    )
    standin = LiveDocuments(document)
    with ThreadedServer(standin.app, free_port()) as server:
        yield standin, server.url


def _settings(
    kafka: KafkaSettings, redis_url: str, prefix: str, url: str, name: str, **extra: object
) -> FollowerSettings:
    fast: dict[str, object] = {
        "interval_seconds": 0.05,
        "timeout_seconds": 2,
        "lease_seconds": 1.0,
        "scan_seconds": 0.3,
        "lead_seconds": 1800,
        "grace_seconds": 600,
        **extra,
    }
    return FollowerSettings(
        **kafka.model_dump(),
        redis_url=redis_url,
        redis_prefix=prefix,
        live_urls={"nba": f"{url}/pbp/{{game_id}}.json"},
        name=name,
        **fast,  # type: ignore[arg-type]
    )


async def _list(store: SnapshotWriter, game_id: str, version: int, status: GameStatus) -> None:
    """The game as a schedule put it on its board (the publisher's write, without the broker)."""
    before = await store.load_game(game_id)
    game = Game(
        game_id=game_id,
        sport=Sport.BASKETBALL,
        league="NBA",
        status=status,
        home=TeamScore(team_id="1610612751", code="BKN", name="Brooklyn Nets"),
        away=TeamScore(team_id="1610612744", code="GSW", name="Golden State Warriors"),
        start_time=START,
        listed=True,
        version=version,
    )
    await store.write_game(before, [], [game])


async def test_a_game_is_followed_from_its_lead_before_the_start_to_its_final_plus_grace(
    store: SnapshotWriter,
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    provider: tuple[LiveDocuments, str],
) -> None:
    standin, url = provider
    await _list(store, "0022000901", 1, GameStatus.SCHEDULED)
    follower = Follower(_settings(kafka, redis_service, prefix, url, "a"))
    async with follower:
        try:
            await follower.scan(START - timedelta(minutes=31))
            assert follower.following == {}
            await follower.scan(START - timedelta(minutes=29))
            assert set(follower.following) == {"0022000901"}
            await eventually(lambda: standin.requests["0022000901"] > 2, 10)
            await _list(store, "0022000901", 2, GameStatus.FINAL)
            final_seen = START + timedelta(hours=2)
            await follower.scan(final_seen)  # final: followed for the grace period
            await follower.scan(final_seen + timedelta(seconds=599))
            assert set(follower.following) == {"0022000901"}
            await follower.scan(final_seen + timedelta(seconds=601))
            assert follower.following == {}
            polled = standin.requests["0022000901"]
            await asyncio.sleep(0.3)
            assert standin.requests["0022000901"] == polled  # no longer polled
        finally:
            stop = asyncio.Event()
            stop.set()
            await follower.run(stop)  # lets go of everything


async def test_instances_share_the_games_and_take_over_a_crashed_ones_without_producing_twice(
    store: SnapshotWriter,
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    provider: tuple[LiveDocuments, str],
) -> None:
    standin, url = provider
    games = [f"00220009{n:02d}" for n in range(10, 16)]
    for game_id in games:
        await _list(store, game_id, 1, GameStatus.SCHEDULED)
    now = START - timedelta(minutes=10)
    # Long enough that the setup below, on a busy host, ends well within the first's leases:
    # the takeover must be seen waiting for them to run out.
    lease = 2.0
    first = Follower(_settings(kafka, redis_service, prefix, url, "first", lease_seconds=lease))
    second = Follower(_settings(kafka, redis_service, prefix, url, "second", lease_seconds=lease))
    async with first, second:
        for _ in range(100):  # scans each: the games spread, three and three
            await first.scan(now)
            renewed = time.monotonic()  # the first's leases, renewed for the last time
            await second.scan(now)
            if len(first.following) == len(second.following) == 3:
                break
            await asyncio.sleep(0.1)  # a game given back goes once its poll in flight ends
        assert (len(first.following), len(second.following)) == (3, 3)
        assert not set(first.following) & set(second.following)
        await eventually(lambda: all(standin.requests[g] > 1 for g in games), 10)
        assert time.monotonic() - renewed < lease - 0.1, "too slow to show the takeover waits"
        # The first crashes: its polls stop, its leases are not given back.
        crashed = time.monotonic()
        for followed in first.following.values():
            followed.task.cancel()
        first.following.clear()
        while len(second.following) < 6:
            await second.scan(now)
            await asyncio.sleep(0.1)
            assert time.monotonic() - crashed < 10, "the crashed instance's games were not taken"
        taken_after, since_renewed = time.monotonic() - crashed, time.monotonic() - renewed
        await asyncio.sleep(0.5)
    print(
        f"\ntaken {taken_after:.2f} s after the crash, {since_renewed:.2f} s after the last renewal"
    )
    # Within the lease and a scan or two, never before the lease ran out.
    assert taken_after < lease + 4
    assert since_renewed >= lease - 0.05
    produced = events_of_games(kafka, games)
    for game_id in games:
        sequences = [event.sequence for event in produced if event.game_id == game_id]
        records = [event.event_id for event in produced if event.game_id == game_id]
        assert sequences, game_id
        assert len(sequences) == len(set(sequences)), f"{game_id}: a sequence produced twice"
        assert len(records) == len(set(records)), f"{game_id}: a record produced twice"


async def test_a_game_whose_polling_died_is_let_go_and_taken_again(
    store: SnapshotWriter,
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    provider: tuple[LiveDocuments, str],
) -> None:
    """Its poll loop ended on an error nobody caught: the scan lets the game go, lease and
    all, and takes it again; it is not left leased and unpolled."""
    standin, url = provider
    await _list(store, "0022000930", 1, GameStatus.SCHEDULED)
    follower = Follower(_settings(kafka, redis_service, prefix, url, "alone"))
    now = START - timedelta(minutes=10)
    async with follower:
        await follower.scan(now)
        dead = follower.following["0022000930"].task
        dead.cancel()
        await asyncio.sleep(0.05)
        await follower.scan(now)  # lets it go; its lease goes back once the loop has ended
        for _ in range(20):
            await follower.scan(now)
            if "0022000930" in follower.following:
                break
            await asyncio.sleep(0.1)
        assert follower.following["0022000930"].task is not dead
        assert (follower.follows.let_go, follower.follows.taken) == (1, 2)
        polled = standin.requests["0022000930"]
        await eventually(lambda: standin.requests["0022000930"] > polled, 5)
