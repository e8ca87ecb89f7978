"""Publish each new version once to a GRIP proxy: Pushpin's ``POST /publish/`` locally; Fastly
Fanout's publish API takes the same items.

One item per channel: the game's channel carries the SSE event for held streams
(``http-stream``) and the whole answer for held long-polls (``http-response``); the scoreboard
channel carries the game's scoreboard row.
"""

from __future__ import annotations

from typing import Any

import httpx

from scorecast import sse
from scorecast.errors import ScorecastError
from scorecast.models import Game


class GripPublishError(ScorecastError):
    """The GRIP proxy did not take a publish."""


def items(game: Game, body: bytes, board_version: int, row: bytes) -> list[dict[str, Any]]:
    version = game.version
    return [
        {
            "channel": sse.game_channel(game.game_id),
            "id": str(version),
            "prev-id": str(version - 1),
            "http-stream": {"content": sse.event(version, game.change, body).decode()},
            "http-response": {
                "code": 200,
                "headers": {
                    "Content-Type": "application/json",
                    "ETag": f'"v{version}"',
                    "Cache-Control": "no-store",
                },
                "body": body.decode(),
            },
        },
        {
            "channel": sse.SCOREBOARD_CHANNEL,
            "http-stream": {"content": sse.event(board_version, game.change, row).decode()},
        },
    ]


class GripPublisher:
    def __init__(self, publish_url: str, timeout: float) -> None:
        self.publish_url = publish_url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def publish(self, payload: list[dict[str, Any]]) -> None:
        try:
            response = await self._client.post(self.publish_url, json={"items": payload})
        except httpx.HTTPError as exc:
            raise GripPublishError(f"GRIP publish failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise GripPublishError(f"GRIP publish answered {response.status_code}")

    async def aclose(self) -> None:
        await self._client.aclose()
