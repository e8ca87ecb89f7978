"""Several publishers in one consumer group over a multi-partition topic, as real processes:
one is killed mid-game (SIGKILL, no goodbye to the group) and another started. The group
rebalances while six games are live; nothing is lost, nothing applied twice, no fan sees a
version go back."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from redis.asyncio import Redis

from core.models import Game, GameStatus
from core.reducer import apply, fold
from core.store import SnapshotReader
from feeds.adapters import Feed
from feeds.replay import ReplaySettings
from harness.fans import PollingFan
from harness.timeline import TimelineProducer, matchday_feeds, schedule_of
from local.stack import LocalStack
from runtime.kafka import event_message, producer_config
from tests.helpers import eventually

#: Starts real services or processes of its own (see ``SERVICE_FIXTURES`` in conftest).
pytestmark = pytest.mark.stack

GAMES = [
    "basketball/nba-cdn-livedata_0022000001.json",
    "hockey/nhl-apiweb-pbp_2023020001.json",
    "basketball/nba-stats-playbyplayv2_0022100732.json",
]


@pytest.fixture(scope="module")
def group_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The stack with two publishers in one group and three change streams."""
    with LocalStack.for_load(tmp_path_factory.mktemp("group"), change_shards=3) as local:
        local.start_publisher("publisher-2")
        yield local


def _assigned(stack: LocalStack, name: str) -> list[list[int]]:
    text = stack.processes[name].log.read_text(errors="replace")
    return [
        [int(p) for p in found.split(",") if p.strip()]
        for found in re.findall(r"assigned \[([^\]]*)\]", text)
    ]


def _holds_partitions(stack: LocalStack, name: str) -> bool:
    """The member's newest assignment is not empty (it reads some partitions)."""
    found = _assigned(stack, name)
    return bool(found and found[-1])


def _scores_by_sequence(feed: Feed) -> dict[int, tuple[int, int]]:
    """Sequence → the score after it, from one clean fold of the feed."""
    state: Game | None = None
    found = {}
    for event in sorted(feed.events, key=lambda e: e.sequence):
        state = apply(state, event)
        found[event.sequence] = (state.home.score, state.away.score)
    return found


async def test_a_publisher_killed_mid_game_and_another_started_loses_and_doubles_nothing(
    group_stack: LocalStack, data_dir: Path
) -> None:
    stack = group_stack
    feeds = matchday_feeds([data_dir / name for name in GAMES], 6)
    settings = ReplaySettings(kafka_bootstrap=stack.bootstrap)
    producer = Producer(producer_config(settings))
    for feed in feeds:
        key, value = event_message(feed.events[0])
        producer.produce(settings.events_topic, key=key, value=value)
    assert producer.flush(10) == 0
    # Both members hold partitions before the game starts.
    members = ("publisher", "publisher-2")
    await eventually(lambda: all(_holds_partitions(stack, name) for name in members))

    events = schedule_of(feeds, speed=300, max_gap=0.02, stagger=1.0)
    producing = TimelineProducer(producer, settings.events_topic, events, lambda _: None)
    replaying = threading.Thread(target=producing.run)
    fans = [PollingFan(f"/v1/games/{feed.game_id}", interval=(0.02, 0.05)) for feed in feeds * 2]
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=10) as http:
        polling = [asyncio.create_task(fan.poll(http, stop)) for fan in fans]
        replaying.start()
        try:
            await asyncio.sleep(3.0)
            assert replaying.is_alive(), "the games ended before the fault"
            killed = _assigned(stack, "publisher")[-1]
            assert killed, "the killed member held no partition"
            stack.crash("publisher")
            stack.start_publisher("publisher-3")
            await asyncio.to_thread(replaying.join, 120)
            assert producing.failures == []

            async def all_final() -> bool:
                return all(
                    fan.last is not None and fan.last.status is GameStatus.FINAL for fan in fans
                )

            await eventually(all_final, 60)
        finally:
            stop.set()
            await asyncio.gather(*polling)
    # The survivor and the newcomer took the killed member's partitions over mid-game.
    taken = {p for found in _assigned(stack, "publisher-3") for p in found}
    taken |= set(_assigned(stack, "publisher-2")[-1])
    assert set(killed) <= taken

    assert all(fan.went_back == 0 for fan in fans)
    assert all(fan.errors == 0 for fan in fans)
    async with Redis.from_url(stack.redis_url) as redis:
        reader = SnapshotReader(redis, stack.keys)
        for feed in feeds:
            clean = fold(feed.events)
            latest = await reader.latest(feed.game_id)
            assert clean is not None
            assert latest is not None
            final = Game.model_validate_json(latest.body)
            assert final.sequence == clean.sequence, feed.game_id
            assert (final.home.score, final.away.score) == (clean.home.score, clean.away.score)
            # Every version written shows exactly the score a clean fold has at its sequence:
            # an event applied twice (or missed) would show another.
            expected = _scores_by_sequence(feed)
            sequences = []
            for _, body in await reader.versions(feed.game_id, 1, latest.version):
                game = Game.model_validate_json(body)
                sequences.append(game.sequence)
                assert (game.home.score, game.away.score) == expected[game.sequence], game.version
            assert sequences == sorted(set(sequences)), "a version did not move the game on"
    for name in ("publisher-2", "publisher-3"):
        log = stack.processes[name].log.read_text(errors="replace")
        assert "gave up waiting for sequences" not in log
