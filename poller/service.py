"""The feed poller: one provider URL, polled for one game's document, its changes to Kafka.

Each poll is a conditional request (``If-None-Match`` / ``If-Modified-Since``); a new document
is compared with the game's ledger (:mod:`feeds.ledger`) by the provider's own record ids, and
only what it adds, edits or removes is produced. A document older than one already read (its
``Last-Modified`` is earlier, or it lacks the newest record and brings nothing new: a stale
cache copy) is ignored. Waits are jittered; failures back off exponentially.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from confluent_kafka import Producer

from core.connection import ping, redis_client
from core.errors import FeedFormatError, ScorecastError, ServiceError
from core.keys import RedisKeys
from feeds.adapters import FORMATS, Feed, parse
from feeds.intake import FeedIntake
from feeds.ledger import FeedLedger
from poller.settings import PollerSettings
from runtime.kafka import ensure_topics, producer_config
from runtime.lifecycle import Service

logger = logging.getLogger("scorecast.poller")


class PollError(ScorecastError):
    """A poll that brought no usable document (bad status, too large, not JSON)."""


@dataclass
class PollerStats:
    polls: int = 0
    not_modified: int = 0
    documents: int = 0
    stale: int = 0
    failures: int = 0
    unreadable: int = 0
    added: int = 0
    edited: int = 0
    removed: int = 0
    restored: int = 0
    produced: int = 0


class Poller(Service):
    """``async with Poller(settings) as poller: await poller.run(stop)``."""

    def __init__(self, settings: PollerSettings, rng: random.Random | None = None) -> None:
        if not settings.url:
            raise ServiceError("the poller needs a URL (SCORECAST_POLLER_URL or the argument)")
        if settings.format != "auto" and settings.format not in FORMATS:
            raise ServiceError(
                f"unknown format {settings.format!r}; known: auto, {', '.join(FORMATS)}"
            )
        self.settings = settings
        self.drain_seconds = settings.drain_seconds
        self.stats = PollerStats()
        self._rng = rng or random.Random()
        self._validators: dict[str, str] = {}
        self._modified: datetime | None = None
        self._format: str | None = None if settings.format == "auto" else settings.format

    async def start(self, resources: contextlib.AsyncExitStack) -> None:
        self._http = await resources.enter_async_context(
            httpx.AsyncClient(timeout=self.settings.timeout_seconds)
        )
        self._redis = redis_client(self.settings)
        resources.push_async_callback(self._redis.aclose)
        await ping(self._redis)
        await asyncio.to_thread(ensure_topics, self.settings)
        self._producer = Producer(producer_config(self.settings))
        resources.push_async_callback(
            asyncio.to_thread, self._producer.flush, self.settings.produce_timeout_seconds
        )
        self._intake = FeedIntake(
            FeedLedger(self._redis, RedisKeys(self.settings.redis_prefix)),
            self._producer,
            self.settings,
            self.settings.produce_timeout_seconds,
        )

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                await self.poll()
                failures = 0
            except FeedFormatError as exc:
                # Not the provider failing: a document we cannot read yet (a game not started
                # has no plays to tell home from away). Keep polling at the interval.
                failures = 0
                self.stats.unreadable += 1
                logger.warning("document at %s not readable: %s", self._url, exc)
            except (httpx.HTTPError, ScorecastError) as exc:
                failures += 1
                self.stats.failures += 1
                logger.warning("poll of %s failed (%d in a row): %s", self._url, failures, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.wait_seconds(failures))

    def wait_seconds(self, failures: int) -> float:
        """The interval, doubled per failure up to the backoff limit, jittered."""
        settings = self.settings
        base: float = settings.interval_seconds * 2.0 ** min(failures, 30)
        base = min(base, max(settings.backoff_max_seconds, settings.interval_seconds))
        return base * (1 + self._rng.uniform(-settings.jitter, settings.jitter))

    @property
    def _url(self) -> str:
        return self.settings.url

    async def poll(self) -> None:
        """One conditional request; whatever the document changes goes to Kafka."""
        self.stats.polls += 1
        response = await self._http.get(self._url, headers=self._validators)
        if response.status_code == 304:
            self.stats.not_modified += 1
            return
        if response.status_code != 200:
            raise PollError(f"{self._url} answered {response.status_code}")
        modified = _date(response.headers.get("last-modified"))
        if modified is not None and self._modified is not None and modified < self._modified:
            self.stats.stale += 1
            logger.info("ignored a copy of %s older than one read before", self._url)
            return
        feed = self._parse(response.content)
        self.stats.documents += 1
        if await self._produce(feed):
            self._remember_validators(response, modified)

    def _parse(self, body: bytes) -> Feed:
        if len(body) > self.settings.max_document_bytes:
            raise PollError(
                f"document of {len(body)} bytes, limit {self.settings.max_document_bytes}"
            )
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise PollError(f"{self._url} is not JSON: {exc}") from exc
        source = urlsplit(self._url).path.rsplit("/", 1)[-1].rsplit(".", 1)[0] or None
        feed = parse(payload, self._format, source)
        if self._format is None:
            self._format = feed.format  # one URL, one format: no guessing on later polls
        return feed

    async def _produce(self, feed: Feed) -> bool:
        """Produce what ``feed`` changes; False when it was a stale copy."""
        changes = await self._intake.take(feed, complete=True)
        if changes.stale:
            self.stats.stale += 1
            logger.info("ignored a stale copy of %s (lacks its newest record)", self._url)
            return False
        self.stats.added += changes.added
        self.stats.edited += changes.edited
        self.stats.removed += changes.removed
        self.stats.restored += changes.restored
        self.stats.produced += len(changes.events)
        return True

    def _remember_validators(self, response: httpx.Response, modified: datetime | None) -> None:
        validators = {}
        if etag := response.headers.get("etag"):
            validators["If-None-Match"] = etag
        if last_modified := response.headers.get("last-modified"):
            validators["If-Modified-Since"] = last_modified
        self._validators = validators
        if modified is not None:
            self._modified = modified


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    with contextlib.suppress(TypeError, ValueError):
        return parsedate_to_datetime(value)
    return None
