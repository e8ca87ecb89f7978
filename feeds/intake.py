"""Where a provider's document enters the pipeline: compared with the game's ledger, what it
changes numbered, remembered and produced to Kafka. The poller and the webhook both use it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from confluent_kafka import Producer

from core.errors import GameRetiredError, ServiceError
from core.models import GameEvent
from core.settings import KafkaSettings
from feeds.adapters import Feed
from feeds.ledger import Changes, FeedLedger, compare
from feeds.schedules import Schedule
from runtime.kafka import deliver


class BrokerUnavailableError(ServiceError):
    """Kafka did not acknowledge the events in time; they stay in the outbox for the next try."""


@dataclass
class Listed:
    """What a schedule brought: games read, first listed, restated, closed (retired)."""

    games: int = 0
    new: int = 0
    restated: int = 0
    closed: int = 0


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

    async def take_schedule(self, schedule: Schedule) -> Listed:
        """Produce what a schedule changes, game by game: a game it lists for the first time,
        or one whose fixture it restates differently (a moved start, a new venue, a
        postponement, a final). Each game's record is a partial feed: it removes nothing.
        A game already retired is closed to its feeds, the schedule's included: counted."""
        listed = Listed()
        for feed in schedule.feeds():
            try:
                changes = await self.take(feed, complete=False)
            except GameRetiredError:
                listed.closed += 1
                continue
            listed.games += 1
            listed.new += changes.added
            listed.restated += changes.edited
        return listed

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
