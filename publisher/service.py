"""The publisher: consume game events, fold them, write versioned snapshots, announce changes.

One instance is one member of a consumer group; Kafka's key (the game id) keeps each game on one
partition and so on one publisher. Per poll batch, each touched game gets at most one new
version: under load several events share a version, at real pace each event gets its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from redis.asyncio import Redis

from core import reducer
from core.errors import EventError
from core.keys import RedisKeys
from core.models import Change, Game, GameEvent, GameStatus
from core.settings import PublisherSettings
from core.store import SnapshotStore, VersionConflictError, scoreboard_row, snapshot_body
from publisher import grip
from publisher.decode import InvalidEventError, decode
from publisher.grip import FanoutPublisher, GripPublisher, GripPublishError, Pusher
from publisher.offsets import OffsetTracker, Partition, Position
from publisher.reorder import ReorderBuffer
from runtime.kafka import consumer_config, producer_config

logger = logging.getLogger("scorecast.publisher")

_POLL_SECONDS = 0.1


@dataclass
class PublisherStats:
    consumed: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    gaps: int = 0
    versions: int = 0
    push_failures: int = 0
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


class Publisher:
    """Use as ``async with Publisher(settings, redis) as p: await p.run(stop)``."""

    def __init__(self, settings: PublisherSettings, redis: Redis) -> None:
        self.settings = settings
        self.store = SnapshotStore(redis, RedisKeys(settings.redis_prefix))
        self.stats = PublisherStats()
        self._offsets = OffsetTracker()
        self._games: dict[str, _GameSlot] = {}
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._grip: Pusher | None = None

    async def __aenter__(self) -> Publisher:
        self._producer = Producer(producer_config(self.settings))
        self._grip = make_pusher(self.settings)
        self._consumer = Consumer(consumer_config(self.settings, self.settings.group_id))
        self._consumer.subscribe(
            [self.settings.events_topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        consumer, producer, pusher = self._consumer, self._producer, self._grip
        self._consumer = self._producer = self._grip = None
        if pusher is not None:
            await pusher.aclose()
        if producer is not None:
            await asyncio.to_thread(producer.flush, 10.0)
        if consumer is not None:
            # Only what is already written may be committed; held events are re-read next time.
            if exc is None:
                await asyncio.to_thread(self._commit, consumer)
            await asyncio.to_thread(consumer.close)

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until ``stop`` is set; the current batch is finished first."""
        while not stop.is_set():
            await self.step()

    async def step(self) -> int:
        """Poll once, fold and publish what is ready, commit. Returns messages consumed."""
        consumer = self._require(self._consumer)
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
            if event.sequence <= _applied(slot.state) or not slot.buffer.add(event, position, now):
                self.stats.duplicates += 1
                continue
            self._offsets.hold(position)
            touched.add(event.game_id)
        waiting = {game_id for game_id, slot in self._games.items() if len(slot.buffer)}
        for game_id in sorted(touched | waiting):
            dead.extend(await self._advance(game_id, now))
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
                await self.store.announce(state, self.settings.changes_maxlen)
                if state.status is GameStatus.FINAL:
                    await self.store.record_final(state, self.settings.changes_maxlen)
        return slot

    async def _advance(self, game_id: str, now: float) -> list[DeadLetter]:
        slot = self._games[game_id]
        released = slot.buffer.release(_applied(slot.state), now)
        if released.skipped:
            self.stats.gaps += len(released.skipped)
            logger.warning("game %s: gave up waiting for sequences %s", game_id, released.skipped)
        dead: list[DeadLetter] = []
        before = slot.state
        state = before
        for held in released.held:
            try:
                state = reducer.apply(state, held.event)
            except EventError as exc:
                body = held.event.model_dump_json().encode()
                dead.append(DeadLetter(body, game_id.encode(), held.tag, str(exc)))
            else:
                self.stats.applied += 1
        if state is not None and state is not before:
            await self._publish(slot, state, [held.event for held in released.held])
        for held in released.held:
            self._offsets.release(held.tag)
        return dead

    async def _publish(self, slot: _GameSlot, state: Game, events: list[GameEvent]) -> None:
        previous = slot.state
        published = reducer.next_version(previous, state)
        try:
            board = await self.store.publish(published, self.settings.changes_maxlen)
        except VersionConflictError:
            # Another member wrote this game (a rebalance in flight): continue from its state.
            previous = await self.store.load_game(state.game_id)
            folded = reducer.fold(events, previous)
            if folded is None or folded is previous:
                slot.state = previous  # it already wrote all of these
                return
            published = reducer.next_version(previous, folded)
            board = await self.store.publish(published, self.settings.changes_maxlen)
        slot.state = published
        self.stats.versions += 1
        if published.change is Change.FINAL:
            await self.store.record_final(published, self.settings.changes_maxlen)
        if self._grip is not None:
            payload = grip.items(
                published,
                previous.version if previous else 0,
                snapshot_body(published),
                board,
                scoreboard_row(published),
            )
            try:
                await self._grip.publish(payload)
            except GripPublishError as exc:
                # Streams stay correct: a client resumes from its last version on reconnect.
                self.stats.push_failures += 1
                logger.warning("game %s v%d: %s", state.game_id, published.version, exc)

    # -- dead letters and offsets -------------------------------------------------------------

    async def _dead_letter(self, dead: list[DeadLetter]) -> None:
        producer = self._require(self._producer)
        for letter in dead:
            self.stats.dead_lettered += 1
            label = letter.reason.split(":", 1)[0]
            self.stats.reasons[label] = self.stats.reasons.get(label, 0) + 1
            source = "{}/{}@{}".format(*letter.source)
            logger.warning("dead letter %s: %s", source, letter.reason)
            producer.produce(
                self.settings.dead_letter_topic,
                value=letter.value,
                key=letter.key,
                headers=[
                    ("scorecast-error", letter.reason.encode()),
                    ("scorecast-source", source.encode()),
                ],
            )
        # The dead letters must be stored before the offsets that skip them are committed.
        remaining = await asyncio.to_thread(producer.flush, 10.0)
        if remaining:
            raise RuntimeError(f"{remaining} dead letters not delivered; offsets not committed")

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
            raise RuntimeError("use the publisher inside 'async with'")
        return value


def make_pusher(settings: PublisherSettings) -> Pusher | None:
    if settings.push_backend == "pushpin":
        return GripPublisher(settings.grip_publish_url, settings.grip_timeout)
    if settings.push_backend == "fanout":
        return FanoutPublisher(settings, settings.grip_timeout)
    return None


def _position(message: Message) -> Position:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise RuntimeError("a consumed message without topic, partition or offset")
    return topic, partition, offset


def _applied(state: Game | None) -> int:
    return -1 if state is None else state.sequence
