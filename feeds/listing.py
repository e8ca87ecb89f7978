"""``scorecast schedule``: take providers' schedule documents into the pipeline once.

Each listed game enters through the intake like a live document's records (numbered against
its ledger, produced to Kafka), so a game is SCHEDULED, on its day's board, before its first
play; taking the same schedule again produces nothing, a restated fixture one new version.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from core.connection import ping, redis_client
from core.keys import RedisKeys
from core.settings import KafkaSettings, RedisSettings
from feeds import schedules
from feeds.intake import FeedIntake, Listed
from feeds.ledger import FeedLedger
from runtime.kafka import ensure_topics, producer_config


class ListingSettings(RedisSettings, KafkaSettings):
    """``scorecast schedule``: the ledgers' Redis and the events' Kafka, nothing else."""

    produce_timeout_seconds: float = 10.0


async def take(paths: list[Path], settings: ListingSettings, format: str | None = None) -> Any:
    """Read every schedule first (a bad file stops the command before anything is produced),
    then take each in. Returns each file's :class:`~feeds.intake.Listed`."""
    read = [(path, schedules.load(path, format)) for path in paths]
    redis = redis_client(settings)
    try:
        await ping(redis)
        await asyncio.to_thread(ensure_topics, settings)
        producer = Producer(producer_config(settings))
        intake = FeedIntake(
            FeedLedger(redis, RedisKeys(settings.redis_prefix)),
            producer,
            settings,
            settings.produce_timeout_seconds,
        )
        taken: list[tuple[Path, schedules.Schedule, Listed]] = []
        for path, schedule in read:
            taken.append((path, schedule, await intake.take_schedule(schedule)))
        return taken
    finally:
        await redis.aclose()
