"""Where a provider's document enters the pipeline: compared with the game's ledger, what it
changes numbered, remembered and produced to Kafka. The poller and the webhook both use it."""

from __future__ import annotations

import asyncio

from confluent_kafka import Producer

from core.errors import ServiceError
from core.models import GameEvent
from core.settings import KafkaSettings
from feeds.adapters import Feed
from feeds.ledger import Changes, FeedLedger, compare
from runtime.kafka import deliver


class BrokerUnavailableError(ServiceError):
    """Kafka did not acknowledge the events in time; they stay in the outbox for the next try."""


class FeedIntake:
    def __init__(
        self, ledger: FeedLedger, producer: Producer, settings: KafkaSettings, timeout: float
    ) -> None:
        self.ledger = ledger
        self.producer = producer
        self.topic = settings.events_topic
        self.timeout = timeout

    async def take(self, feed: Feed, complete: bool) -> Changes:
        """Produce what ``feed`` changes, once. ``complete``: the feed lists every record of
        the game, so a record missing from it was removed (see :func:`feeds.ledger.compare`)."""
        game_id = feed.game_id
        while True:
            known = await self.ledger.load(game_id)
            await self._flush(game_id, known.outbox)  # left by a crash or a broker outage
            changes = compare(known.records, known.next_sequence, feed.events, complete)
            if changes.stale or not changes.events:
                return changes
            if await self.ledger.record(game_id, known.next_sequence, changes.events):
                break
            # Another reader numbered records of this game meanwhile: compare again.
        await self._flush(game_id, changes.events)
        return changes

    async def _flush(self, game_id: str, outbox: list[GameEvent]) -> None:
        if not outbox:
            return
        acknowledged = await asyncio.to_thread(
            deliver, self.producer, self.topic, outbox, self.timeout
        )
        if not acknowledged:
            raise BrokerUnavailableError(
                f"{len(outbox)} events of game {game_id} not acknowledged; kept for a retry"
            )
        await self.ledger.delivered(game_id, outbox)
