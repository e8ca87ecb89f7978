"""Publish each new version once to Nchan, the self-hosted stream tier (``edge/nchan``).

A game's channel carries its SSE events exactly as streams show them (``id:`` = version), and
the publisher remembers Nchan's id for each version, so that the origin can send a resuming
stream to the message right after the version it holds. The scoreboard stream and long-polls
are held by the origin itself on this tier: nothing is published for them here.

Nchan sends nothing on a quiet stream, so the publisher keeps each game's channel alive with an
SSE comment every ``push_keep_alive_seconds`` for an hour after its last version: clients with a
read timeout and proxies that cut idle connections then keep the stream.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from core import sse
from core.keys import game_channel
from core.store import SnapshotWriter, Written
from publisher.push import PushError

#: Versions whose Nchan ids are kept per game: as many as a channel keeps messages.
HELD_IDS = 256
#: How long after its last version a channel is kept alive.
KEEP_ALIVE_FOR_SECONDS = 3600.0
_KEEP_ALIVE = b":\n\n"

logger = logging.getLogger("scorecast.publisher")


class NchanPublisher:
    def __init__(
        self, publish_url: str, timeout: float, store: SnapshotWriter, keep_alive_seconds: float
    ) -> None:
        self.publish_url = publish_url.rstrip("/") + "/"
        self.store = store
        self.keep_alive_seconds = keep_alive_seconds
        self._client = httpx.AsyncClient(timeout=timeout)
        #: Channel → (its last version's time, its last message's time), monotonic.
        self._channels: dict[str, tuple[float, float]] = {}

    async def publish(self, written: Written, previous_version: int) -> None:
        game = written.game
        channel = game_channel(game.game_id)
        response = await self._post(channel, sse.event(game.version, game.change, written.body))
        now = time.monotonic()
        self._channels[channel] = (now, now)
        # 201: the channel was created by this message; 202: it had one already.
        if response.status_code not in (200, 201, 202):
            raise PushError(f"Nchan publish answered {response.status_code}")
        try:
            message_id = str(response.json()["last_message_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PushError("Nchan publish answered without a message id") from exc
        await self.store.record_held(game.game_id, game.version, message_id, HELD_IDS)

    async def keep_alive(self) -> None:
        now = time.monotonic()
        due = []
        for channel, (version_at, sent_at) in list(self._channels.items()):
            if now - version_at > KEEP_ALIVE_FOR_SECONDS:
                del self._channels[channel]
            elif now - sent_at >= self.keep_alive_seconds:
                self._channels[channel] = (version_at, now)
                due.append(channel)
        # Together: a holder that hangs costs the publisher one timeout, not one per game.
        sent = await asyncio.gather(
            *(self._post(channel, _KEEP_ALIVE) for channel in due), return_exceptions=True
        )
        for channel, result in zip(due, sent, strict=True):
            if isinstance(result, PushError):
                logger.warning("keep-alive of %s: %s", channel, result)
            elif isinstance(result, BaseException):
                raise result

    async def _post(self, channel: str, content: bytes) -> httpx.Response:
        try:
            return await self._client.post(
                self.publish_url + channel, content=content, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise PushError(f"Nchan publish failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        await self._client.aclose()
