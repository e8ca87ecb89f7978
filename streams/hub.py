"""The origin holds streams itself: one reader of each change stream per origin process, fanning
out to the streams and long-polls this process holds. Every origin runs one: it holds what the
configured tier does not (:attr:`streams.tier.StreamTier.holds`), and requests that did not come
through the tier. Its publishing half is the change streams the publisher already writes.

A reader rests while nobody subscribes (a match day's origins behind a stream tier hold almost
no streams, and reading every announcement cost them a fifth of their CPU). The first subscriber
wakes it, and waits until it has taken its place in the stream (:meth:`Hub.following`) before
reading what it missed from the store: every version is then either in the store when read or
announced after the reader's place, so none falls between.

Each subscriber has a bounded buffer. A subscriber that falls that far behind is cut off rather
than buffered without limit: memory stays flat whatever the clients do, and a cut-off client
reconnects with ``Last-Event-ID`` and gets only what it missed.

The reader never dies quietly: any failure marks the hub unhealthy (``/readyz`` answers 503,
so the edge stops sending it clients), is logged, and the reader starts again where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from sse_starlette import EventSourceResponse
from starlette.datastructures import Headers
from starlette.responses import Response

from core import changes, sse
from core.changes import Announcement, ChangeFeed
from core.cors import STREAM_HEADERS
from core.errors import ScorecastError, StoreUnavailableError
from core.keys import SCOREBOARD_CHANNEL, game_channel
from core.store import Snapshot, SnapshotReader, Written, row_version, snapshot_change
from core.versions import newer
from runtime.http_errors import ApiError
from streams.settings import StreamTierSettings
from streams.tier import Held, PollHold, StreamHold, no_newer_version, snapshot_response

logger = logging.getLogger("scorecast.streams.hub")

_BLOCK_MS = 1000
_RETRY_FIRST, _RETRY_MAX = 0.1, 5.0
#: A reader rests this long after its last subscriber left (by default): streams that come
#: and go do not make it stop and start again each time.
REST_AFTER_SECONDS = 30.0
#: How long a new subscriber waits for the readers to take their places before it gives up
#: (its stream ends; the client reconnects).
_FOLLOWING_SECONDS = 10.0


class SlowSubscriberError(ScorecastError):
    """The subscriber's buffer filled up: it is cut off."""


@dataclass(frozen=True)
class Push:
    #: The version pushed; ``None`` for a scoreboard row, sent to every subscriber as it comes
    #: (the board's version is only known for the whole board, which a stream starts with).
    event_id: int | None
    #: The SSE event, ready to send.
    event: bytes
    #: The JSON document itself (long-polls answer with it).
    body: bytes


class Subscription:
    def __init__(self, channel: str, size: int) -> None:
        self.channel = channel
        # One slot more than the buffer, kept for the end-of-stream mark.
        self._queue: asyncio.Queue[Push | None] = asyncio.Queue(size + 1)
        self._size = size
        self.overflowed = False

    def offer(self, push: Push) -> bool:
        if self._queue.qsize() >= self._size:
            self.overflowed = True
            return False
        self._queue.put_nowait(push)
        return True

    def end(self) -> None:
        """No more pushes: the hub is shutting down. Whoever waits gets ``None``."""
        self._queue.put_nowait(None)

    async def next(self) -> Push | None:
        """The next push, or ``None`` once the hub ended the stream."""
        if self.overflowed:
            raise SlowSubscriberError(self.channel)
        return await self._queue.get()


class Hub:
    def __init__(
        self,
        reader: SnapshotReader,
        feeds: list[ChangeFeed],
        buffer: int,
        most: int = 10_000,
        rest_after: float = REST_AFTER_SECONDS,
    ) -> None:
        self.reader = reader
        self.feeds = feeds
        self.buffer = buffer
        #: Subscriptions held at most (streams and long-polls).
        self.most = most
        self.rest_after = rest_after
        self._subscribers: dict[str, set[Subscription]] = {}
        #: Subscriptions held now, counted as they come and go: every connect asks.
        self._held = 0
        self.cut_off = 0
        #: Of each game whose scoreboard row was pushed: the version of the row pushed last (the
        #: row read is the newest one, which can be newer than the announcement read).
        self._rows_pushed: dict[str, int] = {}
        #: Why each stream's reader is down (absent while it follows its stream or rests).
        self._failures: dict[str, str] = {feed.stream: "not started" for feed in feeds}
        self.restarts = 0
        self._closed = False
        #: Set while someone subscribes (or did within ``rest_after`` s): the readers follow
        #: their streams.
        self._wanted = asyncio.Event()
        #: When the last subscriber left.
        self._last_left = time.monotonic()
        #: Of each stream: its reader has taken its place and follows it.
        self._positioned = {feed.stream: asyncio.Event() for feed in feeds}

    @property
    def healthy(self) -> bool:
        return not self._failures

    @property
    def failure(self) -> str | None:
        """Why a reader is down (``None`` while every one follows its stream)."""
        return "; ".join(f"{stream}: {why}" for stream, why in self._failures.items()) or None

    @property
    def full(self) -> bool:
        return self._held >= self.most

    def subscribers(self) -> int:
        return self._held

    @property
    def resting(self) -> bool:
        """Nobody has subscribed for ``rest_after`` s: the readers need not follow."""
        return not self._held and time.monotonic() - self._last_left >= self.rest_after

    @contextlib.contextmanager
    def subscribe(self, channel: str) -> Iterator[Subscription]:
        """Pushes to ``channel`` from now on; read the store only after :meth:`following`."""
        subscription = Subscription(channel, self.buffer)
        if self._closed:
            subscription.end()
        else:
            self._subscribers.setdefault(channel, set()).add(subscription)
            self._held += 1
            self._wanted.set()
        try:
            yield subscription
        finally:
            group = self._subscribers.get(channel)
            if group is not None:
                if subscription in group:  # not cut off, nor ended by close()
                    group.remove(subscription)
                    self._let_go()
                if not group:
                    del self._subscribers[channel]

    async def following(self) -> None:
        """Wait until every reader follows its stream (a resting one was woken by
        :meth:`subscribe`). :class:`StoreUnavailableError` if one cannot within
        :data:`_FOLLOWING_SECONDS`."""
        if self._closed:
            return  # shutting down: the subscription has ended already
        try:
            async with asyncio.timeout(_FOLLOWING_SECONDS):
                for positioned in self._positioned.values():
                    await positioned.wait()
        except TimeoutError:
            raise StoreUnavailableError(f"change stream reader down: {self.failure}") from None

    def _let_go(self) -> None:
        self._held -= 1
        if not self._held:
            self._last_left = time.monotonic()

    def close(self) -> None:
        """End every stream this hub feeds (shutdown): they finish cleanly, not cut mid-event."""
        self._closed = True
        for positioned in self._positioned.values():
            positioned.set()  # a subscriber waiting for the readers reads its end mark instead
        for group in self._subscribers.values():
            for subscription in group:
                subscription.end()
        self._subscribers.clear()
        self._held = 0

    async def run(self, closing: asyncio.Event | None = None) -> None:
        """Follow every change stream until cancelled (the origin's lifespan owns this task);
        once ``closing`` is set, end every stream held (the origin is stopping)."""
        async with asyncio.TaskGroup() as readers:
            for feed in self.feeds:
                readers.create_task(self._follow(feed), name=f"hub {feed.stream}")
            if closing is not None:
                readers.create_task(self._close_on(closing), name="hub closing")

    async def _close_on(self, closing: asyncio.Event) -> None:
        await closing.wait()
        self.close()

    async def _follow(self, feed: ChangeFeed) -> None:
        last: str | None = None
        positioned = self._positioned[feed.stream]
        delay = _RETRY_FIRST
        while True:
            try:
                if last is None:
                    while not self._wanted.is_set():
                        # Resting, it still looks at its stream each second: one that cannot
                        # be read makes the origin unready as it would a following reader.
                        await feed.last_id()
                        _stop_if_cancelled()
                        self._failures.pop(feed.stream, None)
                        delay = _RETRY_FIRST
                        # asyncio.timeout, not wait_for: Python 3.11's wait_for can turn a
                        # cancellation arriving as it times out into a TimeoutError, and the
                        # reader would never stop (the origin's shutdown hung on it).
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(_BLOCK_MS / 1000):
                                await self._wanted.wait()
                    last = await feed.last_id()
                    self._failures.pop(feed.stream, None)
                    delay = _RETRY_FIRST
                    positioned.set()
                while True:
                    if self.resting and not self._closed:
                        # No await from the check to here: a subscriber cannot come between.
                        positioned.clear()
                        self._wanted.clear()
                        last = None
                        break
                    read = await feed.after(last, _BLOCK_MS, 100)
                    _stop_if_cancelled()
                    self._failures.pop(feed.stream, None)
                    for announcement in read.announcements:
                        # Moved past first: an announcement that breaks dispatch is not retried
                        # for ever (its streams heal with the next version).
                        last = announcement.id
                        if announcement.kind == changes.VERSION:
                            await self._dispatch(announcement)
                    last = read.last_id or last  # past unreadable entries too
                    delay = _RETRY_FIRST
                continue  # resting: it waits to be wanted again, not to retry
            except StoreUnavailableError as exc:
                _stop_if_cancelled(exc)
                self._failed(feed, str(exc))
                logger.warning("change stream unavailable (%s); retrying in %.1f s", exc, delay)
            except Exception as exc:
                _stop_if_cancelled(exc)
                self._failed(feed, f"{type(exc).__name__}: {exc}")
                logger.exception("change stream reader failed; restarting in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    def _failed(self, feed: ChangeFeed, reason: str) -> None:
        self._failures[feed.stream] = reason
        self.restarts += 1

    async def _dispatch(self, announcement: Announcement) -> None:
        channel = game_channel(announcement.game_id)
        kind = announcement.change.value
        if channel in self._subscribers:
            versions = announcement.versions
            if len(versions) == 1:
                body = await self.reader.version(announcement.game_id, announcement.version)
                found = [] if body is None else [(announcement.version, body)]
            else:  # a batch: every version in order, read at once
                found = await self.reader.versions(announcement.game_id, versions[0], versions[-1])
            for number, body in found:
                change = kind if number == announcement.version else snapshot_change(body)
                self._deliver(channel, Push(number, sse.event(number, change, body), body))
        if SCOREBOARD_CHANNEL in self._subscribers:
            game_id = announcement.game_id
            # Announcements repeated by a restarted publisher push the row once. A repeat read
            # after a newer version was written finds the newer row: it goes then, under its
            # own version's kind (as the other tiers push it), and not again when the newer
            # version's own announcement comes.
            pushed = self._rows_pushed.get(game_id)
            if newer(announcement.version, pushed):
                row = await self.reader.scoreboard_row(game_id)
                if row is not None and newer(shown := row_version(row), pushed):
                    self._rows_pushed[game_id] = shown
                    change = snapshot_change(row)
                    self._deliver(SCOREBOARD_CHANNEL, Push(None, sse.row_event(change, row), row))

    def _deliver(self, channel: str, push: Push) -> None:
        for subscription in list(self._subscribers.get(channel, ())):
            if not subscription.offer(push):
                self.cut_off += 1
                self._subscribers[channel].remove(subscription)
                self._let_go()


def _stop_if_cancelled(error: Exception | None = None) -> None:
    """Raise :class:`asyncio.CancelledError` if this task was asked to stop and is still
    going: a store call can swallow the cancellation, returning or failing instead (redis-py
    disconnects a connection whose read is cancelled, and that can fail in turn). The reader
    then went on, retrying, and the origin's shutdown hung on it (seen in the suite's
    teardowns: the reader resting, its task marked as cancelling)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from error


class HubTier:
    """The hub as a stream tier: it holds everything, for any request."""

    name = "hub"
    holds = frozenset(Held)

    def __init__(self, hub: Hub, settings: StreamTierSettings) -> None:
        self.hub = hub
        self.settings = settings

    def proves(self, headers: Headers) -> bool:
        return True

    def _refuse_when_full(self) -> None:
        if self.hub.full:
            raise ApiError(
                503,
                "streams_full",
                f"this origin holds {self.hub.most} streams already; retry",
                {"Retry-After": str(random.randint(2, 10)), **STREAM_HEADERS},
            )

    async def stream(self, hold: StreamHold) -> Response:
        self._refuse_when_full()
        hub = self.hub

        async def events() -> AsyncIterator[bytes]:
            # Subscribed before reading what was missed, so nothing published in between is
            # lost; what the client already holds is skipped.
            with hub.subscribe(hold.channel) as subscription:
                held = hold.held
                yield sse.retry()
                await hub.following()
                for event_id, event in await hold.missed():
                    if newer(event_id, held):
                        yield event
                        held = event_id
                while True:
                    try:
                        push = await subscription.next()
                    except SlowSubscriberError:
                        return  # too slow: cut off; it resumes from its Last-Event-ID
                    if push is None:
                        return  # the origin is shutting down; the client reconnects elsewhere
                    if push.event_id is None:
                        yield push.event  # a row: it carries its game's version
                    elif newer(push.event_id, held):
                        yield push.event
                        held = push.event_id

        # Heartbeats jittered per stream, so that idle clients' timers do not line up.
        heartbeat = self.settings.heartbeat_seconds * random.uniform(0.7, 1.0)
        return EventSourceResponse(
            events(), ping=heartbeat, send_timeout=2 * heartbeat, headers=STREAM_HEADERS
        )

    async def long_poll(self, hold: PollHold) -> Response:
        self._refuse_when_full()
        with self.hub.subscribe(hold.channel) as subscription:
            await self.hub.following()
            latest = await hold.latest()
            if newer(latest.version, hold.after):
                return snapshot_response(latest)
            found = await _newer_within(subscription, hold.after, hold.seconds)
        if found is None:
            return no_newer_version()
        return snapshot_response(found)

    async def publish(self, batch: Sequence[Written]) -> None:
        return None  # the hub follows the change streams the publisher writes anyway

    async def keep_alive(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def _newer_within(subscription: Subscription, held: int, seconds: float) -> Snapshot | None:
    """The first version pushed newer than ``held`` within ``seconds``; ``None`` if none came
    (or the hub is shutting down)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            push = await asyncio.wait_for(subscription.next(), left)
        except (TimeoutError, SlowSubscriberError):
            return None
        if push is None:
            return None
        if push.event_id is not None and newer(push.event_id, held):
            return Snapshot(push.event_id, push.body)
    return None
