"""Publish each new version once to Nchan, the self-hosted stream tier (``edge/nchan``).

A game's channel carries its SSE events exactly as streams show them (``id:`` = version), and
the publisher remembers Nchan's id for each version, so that the origin can send a resuming
stream to the message right after the version it holds. The scoreboard stream and long-polls
are held by the origin itself on this tier: nothing is published for them here.
"""

from __future__ import annotations

import httpx

from core import sse
from core.keys import game_channel
from core.store import SnapshotWriter, Written
from publisher.push import PushError

#: Versions whose Nchan ids are kept per game: as many as a channel keeps messages.
HELD_IDS = 256


class NchanPublisher:
    def __init__(self, publish_url: str, timeout: float, store: SnapshotWriter) -> None:
        self.publish_url = publish_url.rstrip("/") + "/"
        self.store = store
        self._client = httpx.AsyncClient(timeout=timeout)

    async def publish(self, written: Written, previous_version: int) -> None:
        game = written.game
        event = sse.event(game.version, game.change, written.body)
        try:
            response = await self._client.post(
                self.publish_url + game_channel(game.game_id),
                content=event,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise PushError(f"Nchan publish failed: {type(exc).__name__}") from exc
        # 201: the channel was created by this message; 202: it had one already.
        if response.status_code not in (200, 201, 202):
            raise PushError(f"Nchan publish answered {response.status_code}")
        try:
            message_id = str(response.json()["last_message_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PushError("Nchan publish answered without a message id") from exc
        await self.store.record_held(game.game_id, game.version, message_id, HELD_IDS)

    async def aclose(self) -> None:
        await self._client.aclose()
