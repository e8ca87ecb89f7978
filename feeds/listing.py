"""``scorecast schedule``: take providers' schedule documents into the pipeline once.

Each listed game enters through the intake like a live document's records (numbered against
its ledger, produced to Kafka), so a game is SCHEDULED, on its day's board, before its first
play; taking the same schedule again produces nothing, a restated fixture one new version.
"""

from __future__ import annotations

import asyncio

from confluent_kafka import Producer

from core.connection import ping, redis_client
from core.keys import RedisKeys
from core.settings import KafkaSettings, RedisSettings
from feeds.intake import FeedIntake, Listed
from feeds.ledger import FeedLedger
from feeds.schedules import Schedule
from runtime.kafka import ensure_topics, producer_config


class ListingSettings(RedisSettings, KafkaSettings):
    """``scorecast schedule``: the ledgers' Redis and the events' Kafka, nothing else."""

    produce_timeout_seconds: float = 10.0


async def take(read: list[Schedule], settings: ListingSettings) -> list[Listed]:
    """Take each schedule in, in order; what each brought."""
    redis = redis_client(settings)
    try:
        await ping(redis)
        await asyncio.to_thread(ensure_topics, settings)
        intake = FeedIntake(
            FeedLedger(redis, RedisKeys(settings.redis_prefix)),
            Producer(producer_config(settings)),
            settings,
            settings.produce_timeout_seconds,
        )
        return [await intake.take_schedule(schedule) for schedule in read]
    finally:
        await redis.aclose()
