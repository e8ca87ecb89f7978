"""The publisher: consume game events, fold them, write versioned snapshots, announce changes.

One instance is one member of a consumer group; Kafka's key (the game id) keeps each game on one
partition and so on one publisher. Per poll batch, a touched game gets a new version after each
event that changes its score or ends it, and one after its last event (see
:func:`core.reducer.versions`): under load several events share a version, at real pace each
event gets its own, and either way a version's bytes depend only on the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from core import reducer
from core.connection import memory, redis_client
from core.errors import ScorecastError, StoreUnavailableError, VersionConflictError
from core.keys import RedisKeys
from core.models import Game, GameStatus
from core.store import SnapshotWriter, Telling, Written
from publisher.decode import InvalidEventError, decode
from publisher.metrics import PublisherMetrics
from publisher.offsets import OffsetTracker, Partition, Position
from publisher.reorder import ReorderBuffer
from publisher.retirement import Retirement
from publisher.settings import PublisherSettings
from runtime.coalesce import Coalescer
from runtime.kafka import Delivery, consumer_config, ensure_topics, producer_config
from runtime.lifecycle import Service
from runtime.metrics import exporting
from streams.backlog import PushBacklog
from streams.records import PushRecords
from streams.tiers import open_tier

logger = logging.getLogger("scorecast.publisher")


class PublisherError(ScorecastError):
    """The publisher cannot go on safely (it exits; its supervisor restarts it)."""


_POLL_SECONDS = 0.1
_REPORT_SECONDS = 10.0
#: A loop that has not come back from a batch for this long is reported not ready.
_STALLED_SECONDS = 30.0


@dataclass
class PublisherStats:
    consumed: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    gaps: int = 0
    versions: int = 0
    push_failures: int = 0
    #: Versions not pushed because a newer one of the game was pushed already.
    push_skipped: int = 0
    #: Games whose state this member holds in memory, and finished ones it let go.
    games_held: int = 0
    games_released: int = 0
    #: Finished games whose retention ended (see :mod:`publisher.retirement`).
    games_retired: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DeadLetter:
    value: bytes | None
    key: bytes | None
    source: Position
    reason: str


@dataclass
class _GameSlot:
    state: Game | None
    buffer: ReorderBuffer[Position]
    partition: Partition
    #: When an event of this game last arrived (time.monotonic()).
    touched: float = 0.0


class Publisher(Service):
    """Use as ``async with Publisher(settings) as p: await p.run(stop)``."""

    def __init__(self, settings: PublisherSettings) -> None:
        self.settings = settings
        self.drain_seconds = settings.drain_seconds
        self.redis = redis_client(settings)
        keys = RedisKeys(settings.redis_prefix, settings.change_shards)
        self.store = SnapshotWriter(
            self.redis,
            keys,
            settings.changes_maxlen,
            settings.redis_wait_replicas,
            settings.redis_wait_ms,
            settings.retention_seconds,
        )
        self.push_records = PushRecords(self.redis, keys)
        self.retirement = Retirement(self.store, settings.retire_every_seconds)
        self.stats = PublisherStats()
        self._offsets = OffsetTracker()
        self.metrics = PublisherMetrics(
            self._counts, self._gauges, lambda: dict(self.stats.reasons), self._offsets.lag
        )
        #: When the loop last polled the broker (time.monotonic()); ``None`` outside ``run``.
        self._polled: float | None = None
        self._games: dict[str, _GameSlot] = {}
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        #: In front of the stream tier (``None``: no tier to publish to).
        self._backlog: PushBacklog | None = None

    async def start(self, resources: contextlib.AsyncExitStack) -> None:
        # Last out: once everything is closed, nothing refers to the clients any more.
        resources.callback(self._forget_clients)
        resources.push_async_callback(self.redis.aclose)
        await self.store.ping()
        await asyncio.to_thread(ensure_topics, self.settings)
        producer = Producer(producer_config(self.settings))
        resources.push_async_callback(asyncio.to_thread, producer.flush, 10.0)
        self._producer = producer
        tier = open_tier(self.settings, self.push_records)
        if tier is not None:
            resources.push_async_callback(tier.aclose)
            backlog = PushBacklog(tier, self.settings.drain_seconds)
            self._backlog = await resources.enter_async_context(backlog)
        await resources.enter_async_context(self.retirement)
        consumer = Consumer(consumer_config(self.settings, self.settings.group_id))
        resources.push_async_callback(self._close_consumer, consumer)
        self._consumer = consumer
        consumer.subscribe(
            [self.settings.events_topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        await resources.enter_async_context(
            exporting(self.metrics.registry, self.settings, self.ready)
        )

    async def ready(self) -> str | None:
        """Ready while its loop polls the broker and Redis answers."""
        if self._polled is None:
            return "not consuming"
        if time.monotonic() - self._polled > _STALLED_SECONDS:
            return f"no poll for {time.monotonic() - self._polled:.0f} s"
        await self.store.ping()
        return None

    async def _sample_redis(self) -> None:
        try:
            used, limit = await memory(self.redis)
        except StoreUnavailableError as exc:
            logger.warning("redis memory not sampled: %s", exc)
            return
        self.metrics.redis_used.set(used)
        self.metrics.redis_limit.set(limit)

    def _counts(self) -> dict[str, int]:
        stats = self.stats
        return {
            "consumed": stats.consumed,
            "applied": stats.applied,
            "duplicates": stats.duplicates,
            "gaps": stats.gaps,
            "versions": stats.versions,
            "push_failures": self._backlog.failures if self._backlog else stats.push_failures,
            "push_skipped": stats.push_skipped,
            "games_released": stats.games_released,
            "games_retired": self.retirement.retired,
        }

    def _gauges(self) -> dict[str, int]:
        return {
            "games_held": len(self._games),
            "push_waiting": len(self._backlog) if self._backlog else 0,
        }

    def _forget_clients(self) -> None:
        self._consumer = self._producer = self._backlog = None

    async def _close_consumer(self, consumer: Consumer) -> None:
        # Only what is already written may be committed; held events are re-read next time.
        if not self.failed:
            await asyncio.to_thread(self._commit, consumer)
        await asyncio.to_thread(consumer.close)

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until ``stop`` is set; the current batch is finished first."""
        logger.info("publisher started: group %s", self.settings.group_id)
        reported = time.monotonic()
        await self._sample_redis()
        try:
            while not stop.is_set():
                await self.step()
                self._polled = time.monotonic()
                if time.monotonic() - reported > _REPORT_SECONDS:
                    reported = time.monotonic()
                    logger.info("publisher: %s", self.stats)
                    await self._sample_redis()
        finally:
            self._polled = None
        logger.info("publisher stopped: %s", self.stats)

    async def step(self) -> int:
        """Poll once, fold and publish what is ready, commit. Returns messages consumed."""
        consumer = self._require(self._consumer)
        if self._backlog is not None:
            self.stats.push_failures = self._backlog.failures
        messages = await asyncio.to_thread(self._poll, consumer)
        now = time.monotonic()
        touched: set[str] = set()
        dead: list[DeadLetter] = []
        for message in messages:
            if message.error() is not None:
                logger.warning("kafka: %s", message.error())
                continue
            self.stats.consumed += 1
            position = _position(message)
            self._offsets.consumed(position)
            try:
                event = decode(message.value(), message.key(), self.settings.max_event_bytes)
            except InvalidEventError as exc:
                dead.append(DeadLetter(message.value(), message.key(), position, str(exc)))
                continue
            slot = await self._slot(event.game_id, (position[0], position[1]))
            slot.touched = now
            if event.sequence <= _applied(slot.state) or not slot.buffer.add(event, position, now):
                self.stats.duplicates += 1
                continue
            self._offsets.hold(position)
            touched.add(event.game_id)
        waiting = {game_id for game_id, slot in self._games.items() if len(slot.buffer)}
        # Fewer than a full batch: this member has read all the broker holds for now.
        drained = len(messages) < self.settings.batch_size
        # Games are independent: one's round trips to Redis and the stream tier need not wait
        # for another's (a match day touches hundreds per batch); each game's own versions stay
        # in order within its task.
        gate = asyncio.Semaphore(self.settings.games_at_once)

        try:
            async with asyncio.TaskGroup() as games:
                # Each game is announced once written; games ready at about the same time
                # share one round trip, and no game waits for another's write.
                announcer = Coalescer(self.store.tell, games.create_task)

                async def advance(game_id: str) -> list[DeadLetter]:
                    async with gate:
                        return await self._advance(game_id, now, drained, announcer)

                tasks = [games.create_task(advance(g)) for g in sorted(touched | waiting)]
        except ExceptionGroup as failed:
            # The other games were cancelled; nothing of this batch is committed.
            raise failed.exceptions[0] from None
        for task in tasks:
            dead.extend(task.result())
        self._release_finished(now)
        self.stats.games_retired = self.retirement.retired
        if dead:
            await self._dead_letter(dead)
        if messages or dead:
            # Asynchronous: a lost commit only means events are read again, and dedup by
            # sequence makes that harmless. Revokes and shutdown commit synchronously.
            self._commit(consumer, asynchronous=True)
        return len(messages)

    def _poll(self, consumer: Consumer) -> list[Message]:
        # Wait for the first message only, then take what is already there: consume() alone
        # would wait for a full batch or its timeout, adding that wait to every score change.
        first = consumer.poll(_POLL_SECONDS)
        if first is None:
            return []
        return [first, *consumer.consume(self.settings.batch_size - 1, 0)]

    # -- folding ------------------------------------------------------------------------------

    async def _slot(self, game_id: str, partition: Partition) -> _GameSlot:
        slot = self._games.get(game_id)
        if slot is None:
            state = await self.store.load_game(game_id)
            slot = _GameSlot(state, ReorderBuffer(self.settings.reorder_hold_seconds), partition)
            self._games[game_id] = slot
            if state is not None:
                # A crash may have come between writing the snapshot and announcing it, or
                # between a final and its standings: both steps are safe to repeat.
                await self.store.announce(state)
                if state.status is GameStatus.FINAL:
                    await self.store.record_final(state)
        return slot

    def _release_finished(self, now: float) -> None:
        """Let finished games go: a season must not grow this member's memory. A late event
        brings a game back from Redis (see ``_slot``)."""
        quiet = now - self.settings.finished_game_seconds
        for game_id, slot in list(self._games.items()):
            finished = slot.state is not None and slot.state.status is GameStatus.FINAL
            if finished and slot.touched < quiet and not len(slot.buffer):
                del self._games[game_id]
                self.stats.games_released += 1
        self.stats.games_held = len(self._games)

    async def _advance(
        self, game_id: str, now: float, drained: bool, announcer: Coalescer[Telling]
    ) -> list[DeadLetter]:
        slot = self._games[game_id]
        released = slot.buffer.release(_applied(slot.state), now)
        if released.skipped:
            self.stats.gaps += len(released.skipped)
            logger.warning("game %s: gave up waiting for sequences %s", game_id, released.skipped)
        events = [held.event for held in released.held]
        folded = reducer.versions(slot.state, events)
        dead = [
            DeadLetter(
                events[rejected.index].model_dump_json().encode(),
                game_id.encode(),
                released.held[rejected.index].tag,
                str(rejected.error),
            )
            for rejected in folded.rejected
        ]
        self.stats.applied += len(events) - len(folded.rejected)
        try:
            await self._publish(slot, folded, drained, announcer)
        except VersionConflictError:
            # Another member wrote this game (a rebalance in flight): continue from its state.
            # A second conflict ends this member; its events are read again after restart.
            slot.state = await self.store.load_game(game_id)
            await self._publish(slot, reducer.versions(slot.state, events), drained, announcer)
        for held in released.held:
            self._offsets.release(held.tag)
        return dead

    async def _publish(
        self, slot: _GameSlot, folded: reducer.Folded, drained: bool, announcer: Coalescer[Telling]
    ) -> None:
        """Write the batch's plays and versions in one call, then announce them (with other
        games ready at the same time), count a final, and queue what is to be pushed: the
        stream tier takes it in the background."""
        versions = folded.versions
        if not versions:
            return
        last = len(versions) - 1
        claims = [
            self._backlog is not None and ((drained and index == last) or self._live(version))
            for index, version in enumerate(versions)
        ]
        told: list[Telling] = []
        written = await self.store.write_game(slot.state, folded.plays, versions, claims, told=told)
        slot.state = versions[-1]
        self.stats.versions += len(versions)
        for telling in told:
            await announcer.add(telling)
        announced = datetime.now(UTC)
        for version in versions:
            self.metrics.announced(version.ingested_at, announced)
        for version in versions:
            if version.status is GameStatus.FINAL:  # the final, or a correction after it
                await self.store.record_final(version)
        for one in written:
            self._push(one)

    def _push(self, written: Written) -> None:
        """Hand a new version to the stream tier.

        Live versions go out as written. History (a version whose newest event entered the
        pipeline more than ``push_max_age_seconds`` ago: the publisher is catching up after a
        restart, or rebuilding an emptied Redis from the feed) is written and announced but not
        pushed, except a game's newest once the member has drained the broker: held streams
        land on the current state, never on a version older than one they were shown before
        the store was lost (the store's own record of what was pushed goes with it). Which
        versions go is decided before writing: the store claims them in the same call.
        """
        if self._backlog is None:
            return
        if not self._backlog.push(written):
            self.stats.push_skipped += 1

    def _live(self, game: Game) -> bool:
        if game.ingested_at is None:
            return True  # an event nobody stamped: its age is unknown, treat it as news
        age = (datetime.now(UTC) - game.ingested_at).total_seconds()
        return age <= self.settings.push_max_age_seconds

    # -- dead letters and offsets -------------------------------------------------------------

    async def _dead_letter(self, dead: list[DeadLetter]) -> None:
        delivery = Delivery(self._require(self._producer))
        for letter in dead:
            self.stats.dead_lettered += 1
            label = letter.reason.split(":", 1)[0]
            self.stats.reasons[label] = self.stats.reasons.get(label, 0) + 1
            source = "{}/{}@{}".format(*letter.source)
            logger.warning("dead letter %s: %s", source, letter.reason)
            headers: list[tuple[str, str | bytes | None]] = [
                ("scorecast-error", letter.reason.encode()),
                ("scorecast-source", source.encode()),
            ]
            delivery.send(self.settings.dead_letter_topic, letter.key, letter.value, headers)
        # The dead letters must be stored before the offsets that skip them are committed.
        missing = await asyncio.to_thread(delivery.wait, 10.0)
        if missing:
            raise PublisherError(f"{missing} dead letters not delivered; offsets not committed")

    def _commit(
        self, consumer: Consumer, only: list[Partition] | None = None, asynchronous: bool = False
    ) -> None:
        offsets = self._offsets.to_commit()
        if only is not None:
            offsets = {key: value for key, value in offsets.items() if key in only}
        if not offsets:
            return
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        if asynchronous:
            consumer.commit(offsets=partitions, asynchronous=True)
        else:
            consumer.commit(offsets=partitions, asynchronous=False)
        self._offsets.committed(offsets)

    # Rebalance callbacks run inside consume(), while the event loop awaits that call.
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("assigned %s", [p.partition for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [(p.topic, p.partition) for p in partitions]
        logger.info("revoked %s", [p for _, p in revoked])
        try:
            self._commit(consumer, only=revoked)
        except Exception:
            logger.exception("commit on revoke failed; the next owner re-reads from the last one")
        for game_id in [g for g, slot in self._games.items() if slot.partition in revoked]:
            del self._games[game_id]
        self._offsets.forget(revoked)

    @staticmethod
    def _require(value: Any) -> Any:
        if value is None:
            raise PublisherError("use the publisher inside 'async with'")
        return value


def _position(message: Message) -> Position:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise PublisherError("a consumed message without topic, partition or offset")
    return topic, partition, offset


def _applied(state: Game | None) -> int:
    return -1 if state is None else state.sequence
