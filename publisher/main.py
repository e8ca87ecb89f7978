"""``scorecast publisher``: run one member of the publisher consumer group until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import time

from redis.asyncio import Redis

from core.settings import PublisherSettings
from publisher.service import Publisher
from runtime.kafka import ensure_topics
from runtime.lifecycle import stop_on_signals

logger = logging.getLogger("scorecast.publisher")

_REPORT_SECONDS = 10.0


async def serve(settings: PublisherSettings) -> None:
    await asyncio.to_thread(ensure_topics, settings)
    stop = stop_on_signals()
    redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
    )
    async with redis, Publisher(settings, redis) as publisher:
        logger.info("publisher started: group %s", settings.group_id)
        reported = time.monotonic()
        while not stop.is_set():
            await publisher.step()
            if time.monotonic() - reported > _REPORT_SECONDS:
                reported = time.monotonic()
                logger.info("publisher: %s", publisher.stats)
    logger.info("publisher stopped: %s", publisher.stats)
