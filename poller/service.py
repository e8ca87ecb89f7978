"""``scorecast poll URL``: one provider URL polled, its changes to Kafka (see
:mod:`poller.document`). Many games followed from the schedule: :mod:`poller.follower`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random

import httpx
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry

from core.connection import ping, redis_client
from core.errors import ServiceError
from core.keys import RedisKeys
from feeds.intake import FeedIntake
from feeds.ledger import FeedLedger
from poller.document import POLL_HELP, Document, PollError, PollerStats, known_format
from poller.settings import PollerSettings, PollingSettings
from runtime.kafka import ensure_topics, producer_config
from runtime.lifecycle import Service
from runtime.metrics import counted, exporting

__all__ = ["PollError", "Poller", "intake"]

logger = logging.getLogger("scorecast.poller")


async def intake(
    resources: contextlib.AsyncExitStack, settings: PollingSettings
) -> tuple[httpx.AsyncClient, FeedIntake]:
    """What polling needs, each resource registered on ``resources`` as it is taken: an HTTP
    client, and the intake over Redis (the ledgers) and Kafka."""
    http = await resources.enter_async_context(httpx.AsyncClient(timeout=settings.timeout_seconds))
    redis = redis_client(settings)
    resources.push_async_callback(redis.aclose)
    await ping(redis)
    await asyncio.to_thread(ensure_topics, settings)
    producer = Producer(producer_config(settings))
    resources.push_async_callback(
        asyncio.to_thread, producer.flush, settings.produce_timeout_seconds
    )
    ledger = FeedLedger(redis, RedisKeys(settings.redis_prefix))
    return http, FeedIntake(ledger, producer, settings, settings.produce_timeout_seconds)


class Poller(Service):
    """``async with Poller(settings) as poller: await poller.run(stop)``."""

    def __init__(self, settings: PollerSettings, rng: random.Random | None = None) -> None:
        if not settings.url:
            raise ServiceError("the poller needs a URL (SCORECAST_POLLER_URL or the argument)")
        if not known_format(settings.format):
            raise ServiceError(f"unknown format {settings.format!r}; known: {known_formats()}")
        self.settings = settings
        self.drain_seconds = settings.drain_seconds
        self.stats = PollerStats()
        self.document = Document(
            settings.url, settings, self.stats, settings.format, settings.game_id
        )
        self.registry = CollectorRegistry()
        self.registry.register(
            counted(
                "scorecast_poller",
                lambda: dataclasses.asdict(self.stats),
                lambda: {"failing": self.failing},
                POLL_HELP,
            )
        )
        self._rng = rng or random.Random()

    @property
    def failing(self) -> int:
        return self.document.failing

    @property
    def _validators(self) -> dict[str, str]:
        return self.document.validators

    async def start(self, resources: contextlib.AsyncExitStack) -> None:
        self._http, self._intake = await intake(resources, self.settings)
        self._redis = self._intake.ledger.redis
        await resources.enter_async_context(exporting(self.registry, self.settings, self.ready))

    async def ready(self) -> str | None:
        """Ready while it polls: its provider failing is a figure (``failing``), not unreadiness
        (restarting the poller would not mend the provider)."""
        if self.document.polled is None:
            return "not polling yet"
        await ping(self._redis)
        return None

    async def run(self, stop: asyncio.Event) -> None:
        await self.document.run(self._http, self._intake, stop, self._rng)

    async def poll(self) -> None:
        """One conditional request; whatever the document changes goes to Kafka."""
        await self.document.poll(self._http, self._intake)


def known_formats() -> str:
    from feeds import adapters, schedules

    return ", ".join(["auto", *adapters.FORMATS, *schedules.FORMATS])
