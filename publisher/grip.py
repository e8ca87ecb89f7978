"""Publish each new version once to a GRIP proxy: Pushpin's ``POST /publish/`` locally, Fastly
Fanout's ``POST /service/{id}/publish/`` in production. Both take the same items (EPCP, with
the formats under ``formats``).

One item per channel: the game's channel carries the SSE event for held streams
(``http-stream``) and the whole answer for held long-polls (``http-response``); the scoreboard
channel carries the game's scoreboard row.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastly.api.publish_api import PublishApi
from fastly.model.http_response_format import HttpResponseFormat
from fastly.model.http_stream_format import HttpStreamFormat
from fastly.model.publish_item import PublishItem
from fastly.model.publish_item_formats import PublishItemFormats
from fastly.model.publish_request import PublishRequest

from core import sse
from core.keys import SCOREBOARD_CHANNEL, game_channel
from core.settings import FastlySettings
from core.store import Written
from core.versions import etag
from publisher.push import PushError
from runtime.fastly import ERRORS, describe, fastly_client


def items(written: Written, previous_version: int) -> list[dict[str, Any]]:
    """The items of one new version: its bytes as the store wrote them, not serialized again."""
    game = written.game
    version = game.version
    return [
        {
            "channel": game_channel(game.game_id),
            "id": str(version),
            "prev-id": str(previous_version),
            "formats": {
                "http-stream": {"content": sse.event(version, game.change, written.body).decode()},
                "http-response": {
                    "code": 200,
                    "headers": {
                        "Content-Type": "application/json",
                        "ETag": etag(version),
                        "Cache-Control": "no-store",
                    },
                    "body": written.body.decode(),
                },
            },
        },
        {
            "channel": SCOREBOARD_CHANNEL,
            "formats": {
                "http-stream": {
                    "content": sse.event(
                        written.scoreboard_version, game.change, written.row
                    ).decode()
                }
            },
        },
    ]


class GripPublisher:
    """Pushpin's HTTP publish endpoint."""

    def __init__(self, publish_url: str, timeout: float) -> None:
        self.publish_url = publish_url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def publish(self, written: Written, previous_version: int) -> None:
        payload = {"items": items(written, previous_version)}
        try:
            response = await self._client.post(self.publish_url, json=payload)
        except httpx.HTTPError as exc:
            raise PushError(f"GRIP publish failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise PushError(f"GRIP publish answered {response.status_code}")

    async def keep_alive(self) -> None:
        return None  # Pushpin sends them (Grip-Keep-Alive)

    async def aclose(self) -> None:
        await self._client.aclose()


class FanoutPublisher:
    """Fastly Fanout, through Fastly's official SDK (synchronous: run in a worker thread)."""

    def __init__(self, settings: FastlySettings, timeout: float) -> None:
        self._service_id = settings.fastly_service_id
        self._client = fastly_client(settings)
        self._api = PublishApi(self._client)
        self._timeout = timeout

    async def publish(self, written: Written, previous_version: int) -> None:
        payload = items(written, previous_version)
        request = PublishRequest(items=[_fanout_item(item) for item in payload])
        try:
            await asyncio.to_thread(
                self._api.publish,
                service_id=self._service_id,
                publish_request=request,
                _request_timeout=self._timeout,
            )
        except ERRORS as exc:
            raise PushError(describe(exc, "fanout publish").message) from None

    async def keep_alive(self) -> None:
        return None  # Fanout sends them (Grip-Keep-Alive)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)


def _fanout_item(item: dict[str, Any]) -> PublishItem:
    formats = item["formats"]
    models: dict[str, Any] = {}
    if "http-stream" in formats:
        models["http_stream"] = HttpStreamFormat(content=formats["http-stream"]["content"])
    if "http-response" in formats:
        answer = formats["http-response"]
        models["http_response"] = HttpResponseFormat(
            code=answer["code"], headers=answer["headers"], body=answer["body"]
        )
    extra = {"id": item["id"], "prev_id": item["prev-id"]} if "id" in item else {}
    return PublishItem(channel=item["channel"], formats=PublishItemFormats(**models), **extra)
