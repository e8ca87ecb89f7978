"""One provider document polled: a conditional request, a bounded read, the document parsed
and what it changes taken in through the intake (:mod:`feeds.intake`).

A new document is compared with the game's ledger (:mod:`feeds.ledger`) by the provider's own
record ids, and only what it adds, edits or removes is produced. A document older than one
already read (its ``Last-Modified`` is earlier, or it lacks the newest record and brings
nothing new: a stale cache copy) is ignored. A schedule document (a format of
:mod:`feeds.schedules`) lists games: each is taken in as its schedule record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from core.errors import FeedFormatError, ScorecastError
from feeds import adapters, schedules
from feeds.adapters import Feed, decode
from feeds.intake import FeedIntake
from feeds.schedules import Schedule
from poller.settings import DocumentSettings

logger = logging.getLogger("scorecast.poller")


class PollError(ScorecastError):
    """A poll that brought no usable document (bad status, too large, not JSON)."""


@dataclass
class PollerStats:
    polls: int = 0
    not_modified: int = 0
    documents: int = 0
    stale: int = 0
    #: Documents missing too many records to be read as complete (cut off): nothing removed.
    truncated: int = 0
    failures: int = 0
    unreadable: int = 0
    added: int = 0
    edited: int = 0
    removed: int = 0
    restored: int = 0
    produced: int = 0


POLL_HELP = {
    "polls": "Requests made to the provider.",
    "not_modified": "Polls answered 304 Not Modified.",
    "documents": "Documents read.",
    "stale": "Documents older than one already read (dropped).",
    "truncated": "Documents cut off (read as partial: nothing removed).",
    "failures": "Polls that failed (the provider, the network or the broker).",
    "unreadable": "Documents not readable yet (polled again at the interval).",
    "produced": "Events sent to the broker.",
    "failing": "Polls failed in a row: above 0 the poller is backing off.",
}


AUTO = "auto"


def known_format(name: str) -> bool:
    return name == AUTO or name in adapters.FORMATS or name in schedules.FORMATS


class Document:
    """One URL's document: the validators and date last read, its format and its game."""

    def __init__(
        self,
        url: str,
        settings: DocumentSettings,
        stats: PollerStats,
        format: str = AUTO,
        game_id: str | None = None,
    ) -> None:
        self.url = url
        self.settings = settings
        self.stats = stats
        self.validators: dict[str, str] = {}
        #: Polls failed in a row (the backoff), and when the last poll ended (monotonic).
        self.failing = 0
        self.polled: float | None = None
        self._modified: datetime | None = None
        self._format: str | None = None if format == AUTO else format
        #: The game the URL is (set, or the first document's): another one is refused.
        self._game_id = game_id or None

    async def run(
        self,
        http: httpx.AsyncClient,
        intake: FeedIntake,
        stop: asyncio.Event,
        rng: random.Random,
    ) -> None:
        """Poll until ``stop``: at the interval, backing off after failures."""
        while not stop.is_set():
            try:
                await self.poll(http, intake)
                self.failing = 0
            except FeedFormatError as exc:
                # Not the provider failing: a document we cannot read yet (a game not started
                # has no plays to tell home from away). Keep polling at the interval.
                self.failing = 0
                self.stats.unreadable += 1
                logger.warning("document at %s not readable: %s", self.url, exc)
            except (httpx.HTTPError, ScorecastError, TimeoutError) as exc:
                self.failing += 1
                self.stats.failures += 1
                logger.warning("poll of %s failed (%d in a row): %s", self.url, self.failing, exc)
            self.polled = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.wait_seconds(rng))

    def wait_seconds(self, rng: random.Random) -> float:
        """The interval, doubled per failure up to the backoff limit, jittered."""
        settings = self.settings
        base: float = settings.interval_seconds * 2.0 ** min(self.failing, 30)
        base = min(base, max(settings.backoff_max_seconds, settings.interval_seconds))
        return base * (1 + rng.uniform(-settings.jitter, settings.jitter))

    async def poll(self, http: httpx.AsyncClient, intake: FeedIntake) -> None:
        """One conditional request; whatever the document changes goes to Kafka."""
        self.stats.polls += 1
        # One deadline for the whole request, body included: a provider that drips a byte at a
        # time holds a poll (and a drain on SIGTERM) no longer than the timeout.
        async with asyncio.timeout(self.settings.timeout_seconds):
            status, headers, body = await self._fetch(http)
        if status == 304:
            self.stats.not_modified += 1
            return
        if status != 200:
            raise PollError(f"{self.url} answered {status}")
        modified = _date(headers.get("last-modified"))
        if modified is not None and self._modified is not None and modified < self._modified:
            self.stats.stale += 1
            logger.info("ignored a copy of %s older than one read before", self.url)
            return
        read = self._parse(body)
        self.stats.documents += 1
        taken = (
            await self._produce(intake, read)
            if isinstance(read, Feed)
            else await self._list(intake, read)
        )
        if taken:
            self._remember_validators(headers, modified)

    async def _fetch(self, http: httpx.AsyncClient) -> tuple[int, httpx.Headers, bytes]:
        """The answer, its body read up to the limit, on the wire and decompressed: nothing
        larger is ever held in memory."""
        headers = {**self.validators, "Accept-Encoding": "gzip, deflate"}
        async with http.stream("GET", self.url, headers=headers) as response:
            body = b""
            if response.status_code == 200:
                body = await _read_bounded(response, self.settings.max_document_bytes)
            return response.status_code, response.headers, body

    def _parse(self, body: bytes) -> Feed | Schedule:
        source = urlsplit(self.url).path.rsplit("/", 1)[-1].rsplit(".", 1)[0] or None
        payload = decode(body)
        if self._format in schedules.FORMATS:
            return schedules.parse(payload, self._format, source)
        if self._format is None and not _is_feed(payload):
            try:
                schedule = schedules.parse(payload, None, source)
            except FeedFormatError:
                pass  # neither: the feeds' message says which formats are known
            else:
                self._format = schedule.format
                return schedule
        feed = adapters.parse(payload, self._format, source)
        if self._game_id is None:
            self._game_id = feed.game_id
        elif feed.game_id != self._game_id:
            raise PollError(f"{self.url} answered game {feed.game_id[:64]!r}, not {self._game_id}")
        if self._format is None:
            self._format = feed.format  # one URL, one format: no guessing on later polls
        return feed

    async def _produce(self, intake: FeedIntake, feed: Feed) -> bool:
        """Produce what ``feed`` changes; False when it was a stale copy."""
        changes = await intake.take(feed, complete=True)
        if changes.stale:
            self.stats.stale += 1
            logger.info("ignored a stale copy of %s (lacks its newest record)", self.url)
            return False
        if changes.truncated:
            self.stats.truncated += 1
            logger.warning(
                "%s lacks more records than a correction takes back: none removed",
                self.url,
            )
        self.stats.added += changes.added
        self.stats.edited += changes.edited
        self.stats.removed += changes.removed
        self.stats.restored += changes.restored
        self.stats.produced += len(changes.events)
        return True

    async def _list(self, intake: FeedIntake, schedule: Schedule) -> bool:
        listed = await intake.take_schedule(schedule)
        self.stats.added += listed.new
        self.stats.edited += listed.restated
        self.stats.produced += listed.new + listed.restated
        return True

    def _remember_validators(self, headers: httpx.Headers, modified: datetime | None) -> None:
        validators = {}
        if etag := headers.get("etag"):
            validators["If-None-Match"] = etag
        if modified is not None:
            # A date we trust, in one form; a future one is never sent back.
            validators["If-Modified-Since"] = format_datetime(modified, usegmt=True)
            self._modified = modified
        self.validators = validators


def _is_feed(payload: object) -> bool:
    try:
        adapters.detect(payload)
    except FeedFormatError:
        return False
    return True


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The body, decompressed here a bounded step at a time (a small gzip can hold gigabytes),
    or a :class:`PollError` as soon as it passes ``limit`` on the wire or decompressed."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
        raise PollError(f"{response.url}: unsupported Content-Encoding {encoding[:32]!r}")
    # gzip or zlib, told apart by their headers.
    inflate = None if encoding == "identity" else zlib.decompressobj(zlib.MAX_WBITS | 32)
    body = bytearray()
    wire = 0
    try:
        async for chunk in response.aiter_raw():
            wire += len(chunk)
            data = chunk
            while data and len(body) <= limit and wire <= limit:
                if inflate is None:
                    body += data
                    break
                body += inflate.decompress(data, limit + 1 - len(body))
                data = inflate.unconsumed_tail
            if len(body) > limit or wire > limit:
                raise PollError(f"{response.url}: document over {limit} bytes")
    except zlib.error as exc:
        raise PollError(f"{response.url}: a corrupt {encoding} body: {exc}") from None
    return bytes(body)


#: How far ahead of ours a provider's clock may run before its dates are not trusted.
_CLOCK_SKEW = timedelta(minutes=5)


def _date(value: str | None) -> datetime | None:
    """An HTTP date in one form (UTC), or ``None``: absent, unreadable, or in the future (one
    future date trusted would make every later document look older)."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # "-0000": UTC (RFC 5322 section 3.3)
    if parsed > datetime.now(UTC) + _CLOCK_SKEW:
        return None
    return parsed.astimezone(UTC)
