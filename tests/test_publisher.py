"""The publisher against a real broker and a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from confluent_kafka import Consumer, Producer
from redis.asyncio import Redis

from core.models import Game, GameEvent, GameStatus
from core.reducer import fold
from core.settings import KafkaSettings
from core.store import SnapshotWriter
from feeds.adapters import load
from harness.timeline import matchday_feeds
from origin import documents
from publisher.service import Publisher
from publisher.settings import PublisherSettings
from runtime.kafka import consumer_config, producer_config
from tests.cdn_standin import CdnStandIn
from tests.factories import basket, noisy_delivery, scheduled, short_game


def _settings(
    kafka: KafkaSettings, redis_url: str, prefix: str, **extra: object
) -> PublisherSettings:
    return PublisherSettings(
        **kafka.model_dump(),
        redis_url=redis_url,
        redis_prefix=prefix,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        **extra,  # type: ignore[arg-type]
    )


def _fanout_settings(
    kafka: KafkaSettings, redis_url: str, prefix: str, standin: CdnStandIn, url: str
) -> PublisherSettings:
    """A publisher pushing to Fastly Fanout, whose API is the local stand-in at ``url``."""
    return _settings(
        kafka,
        redis_url,
        prefix,
        tier="fanout",
        fastly_api_url=url,
        fastly_token=standin.fastly_token,
        fastly_service_id=standin.fastly_service_id,
    )


def _produce(kafka: KafkaSettings, messages: list[tuple[bytes, bytes | None]]) -> None:
    producer = Producer(producer_config(kafka))
    for key, value in messages:
        producer.produce(kafka.events_topic, key=key, value=value)
    assert producer.flush(10) == 0


def _encode(event: GameEvent) -> tuple[bytes, bytes]:
    return event.game_id.encode(), event.model_dump_json().encode()


async def _run_until(publisher: Publisher, done: Callable[[], object]) -> None:
    deadline = time.monotonic() + 30
    while not await _check(done):
        assert time.monotonic() < deadline, f"timed out; stats {publisher.stats}"
        await publisher.step()


async def _check(done: Callable[[], object]) -> bool:
    result = done()
    if asyncio.iscoroutine(result):
        result = await result
    return bool(result)


def _dead_letters(kafka: KafkaSettings, expected: int) -> list[tuple[bytes, str]]:
    consumer = Consumer(consumer_config(kafka, f"dlq-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([kafka.dead_letter_topic])
    found: list[tuple[bytes, str]] = []
    deadline = time.monotonic() + 20
    try:
        while len(found) < expected and time.monotonic() < deadline:
            for message in consumer.consume(50, 0.5):
                if message.error() is None:
                    headers = dict(message.headers() or [])
                    reason = headers["scorecast-error"]
                    assert isinstance(reason, bytes)
                    found.append((message.value() or b"", reason.decode()))
    finally:
        consumer.close()
    return found


def _comparable(game: Game | None) -> dict[str, object]:
    assert game is not None
    return game.model_dump(exclude={"version", "ingested_at", "change"})


async def test_malformed_events_are_dead_lettered_and_valid_ones_all_apply(
    kafka: KafkaSettings, redis_service: str, redis: Redis, prefix: str, store: SnapshotWriter
) -> None:
    game = short_game("g1")
    oversized = basket(9, "h").model_copy(update={"description": "x" * 500})
    oversized_value = oversized.model_dump_json().encode() + b" " * 2000
    bad: list[tuple[bytes, bytes | None]] = [
        (b"g1", b"{not json"),
        (b"g1", json.dumps({"event_id": "e", "game_id": "g1", "sequence": "two"}).encode()),
        (b"g1", json.dumps({"game_id": "g1", "sequence": 3, "event_type": "SCORE"}).encode()),
        (b"g1", json.dumps({**json.loads(_encode(game[2])[1]), "event_type": "DUNK"}).encode()),
        (b"g1", None),
        (b"g1", oversized_value),
        (b"other", _encode(game[3])[1]),
        _encode(basket(1, "h", game_id="never-scheduled")),
    ]
    messages = [_encode(e) for e in game[:3]] + bad + [_encode(e) for e in game[3:]]
    _produce(kafka, messages)
    settings = _settings(
        kafka, redis_service, prefix, max_event_bytes=1024, reorder_hold_seconds=0.3
    )
    async with Publisher(settings) as publisher:
        await _run_until(publisher, lambda: publisher.stats.dead_lettered >= len(bad))
        await _run_until(publisher, lambda: store.load_game("g1"))
    final = await store.load_game("g1")
    assert _comparable(final) == _comparable(fold(game))
    assert publisher.stats.applied == len(game)
    reasons = sorted(reason for _, reason in _dead_letters(kafka, len(bad)))
    assert len(reasons) == len(bad)
    expected = [
        "empty message",
        "game 'never-scheduled' has no GAME_SCHEDULED event before it",
        "invalid event: event_id: Field required",
        "invalid event: event_type: Input should be 'GAME_SCHEDULED'",
        "invalid event: message: Invalid JSON",
        "invalid event: sequence: Input should be a valid integer",
        "message key b'other' does not match game_id 'g1'",
        f"oversized: {len(oversized_value)} bytes, limit 1024",
    ]
    for want, reason in zip(expected, reasons, strict=True):
        assert reason.startswith(want), (want, reason)


async def test_duplicated_and_reordered_delivery_gives_the_same_final_state(
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    store: SnapshotWriter,
    nba_file: Path,
) -> None:
    events = load(nba_file).events
    rng = random.Random(2024)
    # Shuffled within windows of 8 and 10% sent again, like a feed reconnect would.
    noisy = noisy_delivery(events, rng, window=8)
    _produce(kafka, [_encode(e) for e in noisy])
    settings = _settings(kafka, redis_service, prefix, reorder_hold_seconds=5.0)
    async with Publisher(settings) as publisher:
        await _run_until(publisher, lambda: publisher.stats.consumed >= len(noisy))
        await _run_until(publisher, lambda: publisher.stats.applied >= len(events))
    final = await store.load_game(events[0].game_id)
    assert _comparable(final) == _comparable(fold(events))
    assert final is not None
    assert final.status is GameStatus.FINAL
    assert (final.home.score, final.away.score) == (125, 99)
    assert publisher.stats.gaps == 0
    assert publisher.stats.duplicates >= len(events) // 10


async def test_held_events_are_read_again_after_a_restart(
    kafka: KafkaSettings, redis_service: str, redis: Redis, prefix: str, store: SnapshotWriter
) -> None:
    game = short_game("g1")
    _produce(kafka, [_encode(game[0]), _encode(game[1]), _encode(game[3])])  # 2 is missing
    settings = _settings(kafka, redis_service, prefix, reorder_hold_seconds=600)

    async def sequence() -> int:
        state = await store.load_game("g1")
        return -1 if state is None else state.sequence

    async with Publisher(settings) as first:
        await _run_until(first, lambda: first.stats.consumed >= 3)
        await _run_until(first, lambda: first.stats.versions >= 1)
    assert await sequence() == 1  # 3 is held, waiting for 2
    _produce(kafka, [_encode(game[2])])
    async with Publisher(settings) as second:
        await _run_until(second, lambda: second.stats.consumed >= 2)
        await _run_until(second, lambda: second.stats.applied >= 2)
    assert await sequence() == 3
    assert second.stats.consumed == 2  # 0 and 1 were committed: only 3 and 2 came again


async def test_a_new_version_is_written_only_when_state_changes(
    kafka: KafkaSettings, redis_service: str, redis: Redis, prefix: str, store: SnapshotWriter
) -> None:
    _produce(kafka, [_encode(scheduled("g1"))])
    settings = _settings(kafka, redis_service, prefix)
    async with Publisher(settings) as publisher:
        await _run_until(publisher, lambda: publisher.stats.versions >= 1)
        _produce(kafka, [_encode(scheduled("g1"))] * 3)
        await _run_until(publisher, lambda: publisher.stats.duplicates >= 3)
    latest = await store.latest("g1")
    assert latest is not None
    assert latest.version == 1
    assert await store.version("g1", 2) is None


async def test_a_final_counts_once_in_the_standings(
    kafka: KafkaSettings, redis_service: str, redis: Redis, prefix: str, store: SnapshotWriter
) -> None:
    game = short_game("g1")
    _produce(kafka, [_encode(e) for e in game])
    settings = _settings(kafka, redis_service, prefix)

    async def table() -> bytes:
        return documents.standings_table("test", await store.standings("test"), "unspecified").body

    async with Publisher(settings) as publisher:
        await _run_until(publisher, lambda: publisher.stats.applied >= len(game))
    first = json.loads(await table())
    assert first["version"] == 1
    assert [(t["code"], t["wins"], t["losses"]) for t in first["teams"]] == [
        ("HOM", 1, 0),
        ("AWY", 0, 1),
    ]
    # The final again: the same event, and a provider's re-sent game end with a new sequence.
    again = game[-1].model_copy(update={"event_id": "g1:end-again", "sequence": 8})
    _produce(kafka, [_encode(game[-1]), _encode(again)])
    async with Publisher(settings) as restarted:  # also re-checks the final on load
        await _run_until(restarted, lambda: restarted.stats.consumed >= 2)
    assert json.loads(await table()) == first


async def test_each_version_is_published_once_to_fanout(
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    cdn: tuple[CdnStandIn, str],
) -> None:
    standin, url = cdn
    game = short_game("g1")
    _produce(kafka, [_encode(e) for e in game])
    settings = _fanout_settings(kafka, redis_service, prefix, standin, url)
    async with Publisher(settings) as publisher:
        await _run_until(publisher, lambda: publisher.stats.applied >= len(game))
    game_items = [item for item in standin.published if item["channel"] == "game-g1"]
    board_items = [item for item in standin.published if item["channel"] == "scoreboard"]
    ids = [int(item["id"]) for item in game_items]
    # Once each, growing, each naming the one before it; the last is the final (sequence 7).
    assert len(ids) == publisher.stats.versions == len(board_items)
    assert ids == sorted(set(ids))
    assert [item["prev-id"] for item in game_items] == [str(v) for v in [0, *ids[:-1]]]
    last = game_items[-1]
    assert ids[-1] == len(game)
    stream = last["formats"]["http-stream"]["content"]
    assert stream.startswith(f"id: {ids[-1]}\nevent: final\ndata: {{")
    answer = last["formats"]["http-response"]
    assert answer["code"] == 200
    assert answer["headers"]["ETag"] == f'"v{ids[-1]}"'
    assert json.loads(answer["body"])["status"] == "FINAL"
    assert publisher.stats.push_failures == 0


async def test_versions_the_holder_refused_reach_it_later_in_order(
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    cdn: tuple[CdnStandIn, str],
) -> None:
    """A holder that is down misses nothing: what it refused is handed over, oldest first and
    before anything newer, once it takes publishes again."""
    standin, url = cdn
    standin.fail_next(3)
    game = short_game("g1")
    _produce(kafka, [_encode(e) for e in game])
    settings = _fanout_settings(kafka, redis_service, prefix, standin, url)

    def ids() -> list[int]:
        return [int(item["id"]) for item in standin.published if item["channel"] == "game-g1"]

    async with Publisher(settings) as publisher:
        await _run_until(publisher, lambda: ids() and ids()[-1] == len(game))
    assert publisher.stats.push_failures == 3
    assert ids() == sorted(set(ids()))
    assert len(ids()) == publisher.stats.versions
    game_items = [item for item in standin.published if item["channel"] == "game-g1"]
    assert [item["prev-id"] for item in game_items] == [str(v) for v in [0, *ids()[:-1]]]


async def test_a_version_older_than_one_already_pushed_is_not_pushed(
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    store: SnapshotWriter,
    cdn: tuple[CdnStandIn, str],
) -> None:
    """Another member of the group (during a rebalance) already pushed a newer version: this
    one writes its versions but hands the push proxy none of the older ones."""
    standin, url = cdn
    game = short_game("g2")
    _produce(kafka, [_encode(e) for e in game[:4]])
    await store.redis.set(store.keys.pushed("g2"), 4)  # the other member pushed version 4
    settings = _fanout_settings(kafka, redis_service, prefix, standin, url)
    async with Publisher(settings) as publisher:
        await _run_until(publisher, lambda: publisher.stats.applied >= 4)
        _produce(kafka, [_encode(game[4])])
        await _run_until(publisher, lambda: publisher.stats.applied >= 5)
    pushed = [item for item in standin.published if item["channel"] == "game-g2"]
    assert [(item["id"], item["prev-id"]) for item in pushed] == [("5", "4")]
    assert publisher.stats.push_skipped == publisher.stats.versions - 1 >= 1


async def test_history_is_written_but_only_its_newest_version_is_pushed(
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    store: SnapshotWriter,
    cdn: tuple[CdnStandIn, str],
) -> None:
    """A publisher catching up (or rebuilding an emptied Redis) writes every version, but pushes
    only the newest once it has read all there is: held streams never get history."""
    standin, url = cdn
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    game = [e.model_copy(update={"ingested_at": long_ago}) for e in short_game("g3")]
    _produce(kafka, [_encode(e) for e in game])
    settings = _fanout_settings(kafka, redis_service, prefix, standin, url)
    async with Publisher(settings) as publisher:
        await _run_until(publisher, lambda: publisher.stats.applied >= len(game))
        # Then news: pushed as it comes.
        news = basket(len(game), "h", game_id="g3").model_copy(
            update={"ingested_at": datetime.now(UTC)}
        )
        _produce(kafka, [_encode(news)])
        await _run_until(publisher, lambda: publisher.stats.applied > len(game))
    assert publisher.stats.versions > 3
    pushed = [item for item in standin.published if item["channel"] == "game-g3"]
    latest = await store.latest("g3")
    assert latest is not None
    assert [item["id"] for item in pushed] == [str(len(game)), str(latest.version)]
    assert pushed[1]["prev-id"] == pushed[0]["id"]


async def test_two_publishers_through_a_rebalance_apply_everything_once_and_never_go_back(
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    store: SnapshotWriter,
    cdn: tuple[CdnStandIn, str],
    nba_file: Path,
) -> None:
    """A second member joins mid-game, then the first leaves: the game's partition changes hands
    mid-game. Every event is applied once, and neither the versions written nor those pushed
    ever go back."""
    standin, url = cdn
    events = load(nba_file).events
    thirds = [events[: len(events) // 3], events[len(events) // 3 : 2 * len(events) // 3]]
    last = events[2 * len(events) // 3 :]
    _produce(kafka, [_encode(e) for e in thirds[0]])
    settings = _fanout_settings(kafka, redis_service, prefix, standin, url)
    game_id = events[0].game_id
    async with contextlib.AsyncExitStack() as members:
        second = Publisher(settings)
        async with Publisher(settings) as first:
            await _run_until(first, lambda: first.stats.applied >= len(thirds[0]))
            await members.enter_async_context(second)
            _produce(kafka, [_encode(e) for e in thirds[1]])
            for _ in range(30):  # both members poll: the group rebalances while events flow
                await first.step()
                await second.step()
        # The first member has left: whatever it held is the second's now.
        _produce(kafka, [_encode(e) for e in last])
        await _run_until(second, lambda: first.stats.applied + second.stats.applied >= len(events))
    assert second.stats.applied > 0
    assert first.stats.applied + second.stats.applied == len(events)
    final = await store.load_game(game_id)
    assert _comparable(final) == _comparable(fold(events))
    pushed = [int(item["id"]) for item in standin.published if item["channel"] == f"game-{game_id}"]
    assert pushed == sorted(set(pushed))
    assert final is not None
    assert pushed[-1] == final.version


async def test_a_finished_game_leaves_memory_and_comes_back_for_a_late_event(
    kafka: KafkaSettings, redis_service: str, prefix: str, store: SnapshotWriter
) -> None:
    game = short_game("g4")
    _produce(kafka, [_encode(e) for e in game])
    settings = _settings(kafka, redis_service, prefix, finished_game_seconds=0.2)
    async with Publisher(settings) as publisher:
        await _run_until(publisher, lambda: publisher.stats.applied >= len(game))
        await asyncio.sleep(0.3)
        await _run_until(publisher, lambda: publisher.stats.games_released >= 1)
        assert publisher.stats.games_held == 0
        before = await store.latest("g4")
        _produce(kafka, [_encode(game[3])])  # the provider sends an old event again
        await _run_until(publisher, lambda: publisher.stats.duplicates >= 1)
        assert publisher.stats.games_held == 1  # back from Redis, and nothing applied twice
    after = await store.latest("g4")
    assert before is not None
    assert after == before


async def test_after_losing_redis_a_rebuild_from_the_feed_writes_the_same_bytes(
    kafka: KafkaSettings,
    redis_service: str,
    redis: Redis,
    prefix: str,
    store: SnapshotWriter,
    nba_file: Path,
) -> None:
    events = load(nba_file).events
    _produce(kafka, [_encode(e) for e in events])
    settings = _settings(kafka, redis_service, prefix)
    async with Publisher(settings) as first:
        await _run_until(first, lambda: first.stats.applied >= len(events))
    game_id = events[0].game_id
    final_before = await store.latest(game_id)
    assert final_before is not None
    before = dict(await store.versions(game_id, 1, final_before.version))
    # Redis is lost: every key of this deployment is gone.
    async for key in redis.scan_iter(f"{prefix}:*"):
        await redis.delete(key)
    assert await store.latest(game_id) is None
    # The procedure: one publisher in a fresh consumer group reads the feed from the start,
    # here in batches of another size, so the events share versions differently.
    rebuild = settings.model_copy(
        update={"group_id": f"rebuild-{uuid.uuid4().hex[:8]}", "batch_size": 7}
    )
    async with Publisher(rebuild) as second:
        await _run_until(second, lambda: second.stats.applied >= len(events))
    after = await store.latest(game_id)
    assert after is not None
    assert after.version == final_before.version  # a client holding it sees nothing go back
    assert after.body == final_before.body
    rebuilt = dict(await store.versions(game_id, 1, after.version))
    common = set(before) & set(rebuilt)
    assert len(common) > len(before) // 2
    for number in common:
        assert rebuilt[number] == before[number], f"version {number} was rewritten differently"
    rebuilt_final = json.loads(after.body)
    assert (rebuilt_final["home"]["score"], rebuilt_final["away"]["score"]) == (125, 99)


def _reached(publisher: Publisher, applied: int, released: int) -> bool:
    return publisher.stats.applied >= applied and publisher.stats.games_released >= released


async def test_a_season_replayed_fast_keeps_the_publisher_memory_flat(
    kafka: KafkaSettings, redis_service: str, prefix: str, data_dir: Path
) -> None:
    """160 real games one round after another: finished games leave as fast as new ones come,
    so what the publisher holds (games, and the Python memory they take) stops growing after
    the first rounds. Kept for ever, the same season grows it round after round."""
    feeds = matchday_feeds(
        [data_dir / "soccer/statsperform-ma3_71pif9hi2vwzp6q0xzilyxst0.json"], 160
    )
    settings = _settings(kafka, redis_service, prefix, finished_game_seconds=0)
    held: list[int] = []
    traced: list[int] = []
    applied = 0
    tracemalloc.start()
    try:
        async with Publisher(settings) as publisher:
            for start in range(0, len(feeds), 20):
                matchday = feeds[start : start + 20]
                _produce(kafka, [_encode(e) for feed in matchday for e in feed.events])
                applied += sum(len(feed.events) for feed in matchday)
                await _run_until(publisher, partial(_reached, publisher, applied, start + 20))
                held.append(publisher.stats.games_held)
                gc.collect()
                traced.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    # After two rounds the caches are warm: six more rounds (120 games) add next to nothing.
    growth = traced[-1] - traced[1]
    print(f"\ntraced memory by round (KB): {[t // 1024 for t in traced]}")
    assert growth < 120 * 2048, f"grew {growth // 1024} KB over 120 games"
    assert publisher.stats.games_released == 160
    assert max(held) == 0
