"""Nchan (nginx) holds game streams: the self-hosted stream tier (``edge/nchan``).

The publisher's half posts a game's versions to its channel as SSE events exactly as streams
show them (``id:`` = version), those handed over together in one message, and records Nchan's id
of each message under its last version (:class:`PushRecords`). The origin's half answers a
stream request the tier proved it sent (``Scorecast-Holder``) with an internal redirect into the
channel, right after the newest message whose last version the client holds (or, when that one
is not recorded yet, an older one): a client resuming inside a message of several versions, or
after an older one, is sent versions it holds and skips them. The
scoreboard stream and long-polls are held by the origin's hub on this tier.

Nchan sends nothing on a quiet stream, so the publisher keeps each game's channel alive with an
SSE comment every ``keep_alive_seconds`` for an hour after its last version: clients with a read
timeout and proxies that cut idle connections then keep the stream.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response

from core import sse
from core.keys import game_channel
from core.store import Written
from runtime.coalesce import Coalescer
from runtime.http1 import Answer, Http1Client, Http1Error
from streams.records import PushRecords
from streams.settings import StreamTierSettings
from streams.tier import Held, PollHold, PushError, StreamHold

#: Versions whose Nchan ids are kept per game: as many as a channel keeps messages
#: (``nchan_message_buffer_length`` in ``edge/nchan/nginx.conf``).
HELD_IDS = 256
#: How long after its last version a channel is kept alive.
KEEP_ALIVE_FOR_SECONDS = 3600.0
#: Where the tier's internal redirect lands (``edge/nchan/nginx.conf``).
HOLDER_LOCATION = "/.holder/stream/"
_KEEP_ALIVE = b":\n\n"
_ACCEPT_JSON = {"Accept": "application/json"}

logger = logging.getLogger("scorecast.streams")


class NchanTier:
    name = "nchan"
    holds = frozenset({Held.GAME_STREAM})

    def __init__(self, settings: StreamTierSettings, records: PushRecords) -> None:
        self.settings = settings
        self.records = records
        self.publish_url = settings.nchan_publish_url.rstrip("/") + "/"
        self._client: Http1Client | None = None
        #: Channel → (its last version's time, its last message's time), monotonic.
        self._channels: dict[str, tuple[float, float]] = {}
        #: The ids of versions published at about the same time are recorded in one round
        #: trip (a match day pushes hundreds of games' versions a second), by tasks this tier
        #: keeps until it is closed.
        self._held = Coalescer(self._record_held, self._spawn)
        self._recording: set[asyncio.Task[None]] = set()

    def proves(self, headers: Headers) -> bool:
        key = self.settings.holder_key.get_secret_value()
        sent = headers.get("scorecast-holder", "")
        return bool(key) and hmac.compare_digest(sent.encode(), key.encode())

    async def stream(self, hold: StreamHold) -> Response:
        if hold.game_id is None:
            raise PushError("Nchan holds game streams only")
        message = await self.records.held_message(hold.game_id, hold.after)
        target = HOLDER_LOCATION + hold.channel
        if message is not None:
            target += "?after=" + message
        # Nothing else: the tier sets the stream's own headers (CORS, caching).
        headers = {"X-Accel-Redirect": target, "X-Accel-Buffering": "no"}
        return Response(status_code=200, headers=headers)

    async def long_poll(self, hold: PollHold) -> Response:
        raise PushError("Nchan holds no long-polls: the origin's hub does")

    async def publish(self, batch: Sequence[Written]) -> None:
        # One message for the batch: its events in order, as a stream shows them. A stream
        # resuming inside it is sent it whole and skips the versions it holds.
        game = batch[-1].game
        channel = game_channel(game.game_id)
        events = b"".join(sse.event(w.game.version, w.game.change, w.body) for w in batch)
        response = await self._post(channel, events)
        now = time.monotonic()
        self._channels[channel] = (now, now)
        # 201: the channel was created by this message; 202: it had one already.
        if response.status not in (200, 201, 202):
            raise PushError(f"Nchan publish answered {response.status}")
        try:
            message_id = str(json.loads(response.body)["last_message_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PushError("Nchan publish answered without a message id") from exc
        await self._held.add((game.game_id, game.version, message_id))

    async def _record_held(self, records: list[tuple[str, int, str]]) -> None:
        await self.records.record_held(records, HELD_IDS)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="record nchan ids")
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def keep_alive(self) -> None:
        now = time.monotonic()
        due = []
        for channel, (version_at, sent_at) in list(self._channels.items()):
            if now - version_at > KEEP_ALIVE_FOR_SECONDS:
                del self._channels[channel]
            elif now - sent_at >= self.settings.keep_alive_seconds:
                self._channels[channel] = (version_at, now)
                due.append(channel)
        # Together: a tier that hangs costs the publisher one timeout, not one per game.
        sent = await asyncio.gather(
            *(self._post(channel, _KEEP_ALIVE) for channel in due), return_exceptions=True
        )
        for channel, result in zip(due, sent, strict=True):
            if isinstance(result, PushError):
                logger.warning("keep-alive of %s: %s", channel, result)
            elif isinstance(result, BaseException):
                raise result

    async def _post(self, channel: str, content: bytes) -> Answer:
        if self._client is None:
            self._client = Http1Client(self.publish_url, self.settings.publish_timeout)
        try:
            return await self._client.request("POST", channel, content, _ACCEPT_JSON)
        except Http1Error as exc:
            raise PushError(f"Nchan publish failed: {exc}") from exc

    async def aclose(self) -> None:
        for task in list(self._recording):
            task.cancel()
        await asyncio.gather(*self._recording, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
