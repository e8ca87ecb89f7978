"""A GRIP proxy holds every stream and long-poll: Pushpin locally (its ``POST /publish/``),
Fastly Fanout in production (``POST /service/{id}/publish/``). Both take the same items (EPCP,
with the formats under ``formats``).

The origin's half answers a request the proxy signed (``Grip-Sig``) with hold instructions and
what the client missed; the publisher's half publishes each new version once: the game's channel
carries the SSE event for held streams (``http-stream``) and the whole answer for held long-polls
(``http-response``); the scoreboard channel carries the game's scoreboard row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
import jwt
from fastly.api.publish_api import PublishApi
from fastly.model.http_response_format import HttpResponseFormat
from fastly.model.http_stream_format import HttpStreamFormat
from fastly.model.publish_item import PublishItem
from fastly.model.publish_item_formats import PublishItemFormats
from fastly.model.publish_request import PublishRequest
from starlette.datastructures import Headers
from starlette.responses import Response

from core import sse
from core.cors import STREAM_HEADERS
from core.keys import SCOREBOARD_CHANNEL, game_channel
from core.store import Written
from core.versions import etag, newer
from runtime.fastly import ERRORS, describe, fastly_client
from streams.records import PushRecords
from streams.settings import StreamTierSettings
from streams.tier import Held, PollHold, PushError, StreamHold, snapshot_response

STREAM_TYPE = "text/event-stream"
#: How long a connect answer waits for versions on their way to the proxy (the hand-over
#: takes milliseconds; a tier that is down is not waited for longer).
CATCH_UP_SECONDS = 1.0


def items(written: Written) -> list[dict[str, Any]]:
    """The items of one new version: its bytes as the store wrote them, not serialized again;
    ``prev-id`` is the game's version pushed before it (0: none)."""
    game = written.game
    version = game.version
    previous_version = written.previous_pushed or 0
    return [
        {
            "channel": game_channel(game.game_id),
            "id": str(version),
            "prev-id": str(previous_version),
            "formats": {
                "http-stream": {"content": sse.event(version, game.change, written.body).decode()},
                "http-response": {
                    "code": 200,
                    "headers": {"Content-Type": "application/json", "ETag": etag(version)}
                    | STREAM_HEADERS,
                    "body": written.body.decode(),
                },
            },
        },
        {
            "channel": SCOREBOARD_CHANNEL,
            "formats": {
                "http-stream": {"content": sse.row_event(game.change, written.row).decode()}
            },
        },
    ]


class GripTier:
    """Pushpin: the origin answers with GRIP instructions, the publisher posts to its HTTP
    publish endpoint."""

    name = "pushpin"
    holds = frozenset(Held)

    def __init__(self, settings: StreamTierSettings, records: PushRecords) -> None:
        self.settings = settings
        self.records = records
        self._client: httpx.AsyncClient | None = None

    def proves(self, headers: Headers) -> bool:
        """``Grip-Sig`` is a valid, unexpired token signed with our GRIP key (GRIP: an
        unverifiable signature means no proxy)."""
        key = self.settings.grip_key.get_secret_value()
        token = headers.get("grip-sig")
        if not key or not token:
            return False
        try:
            jwt.decode(token, key, algorithms=["HS256"], options={"require": ["exp"]})
        except jwt.PyJWTError:
            return False
        return True

    async def stream(self, hold: StreamHold) -> Response:
        # Keep-alives under 10 s: Fastly's default between-bytes timeout.
        heartbeat = max(1, int(self.settings.heartbeat_seconds))
        headers = {
            "Grip-Hold": "stream",
            "Grip-Channel": hold.channel,
            "Grip-Keep-Alive": f":\\n\\n; format=cstring; timeout={heartbeat}",
            **STREAM_HEADERS,
        }
        missed = await hold.missed()
        if hold.game_id is not None and missed:
            # The proxy relays what it is handed as is: while a batch is on its way to it, the
            # connect answer stops at what it has taken, or the older versions still coming
            # would follow a newer one. It waits a moment for the hand-over first: a version
            # handed over before the proxy subscribes this connection would never reach it
            # (a game that then goes quiet would leave the fan with nothing).
            taken = await self._taken(hold.game_id, missed[-1][0])
            if taken is not None:
                missed = [(number, event) for number, event in missed if number <= taken]
        body = sse.retry() + b"".join(event for _, event in missed)
        return Response(body, media_type=STREAM_TYPE, headers=headers)

    async def _taken(self, game_id: str, wanted: int) -> int | None:
        """The newest version the proxy took when older than ``wanted`` still after
        ``CATCH_UP_SECONDS``; ``None`` when nothing is on its way (or it arrived meanwhile)."""
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while True:
            taken = await self.records.in_flight(game_id)
            if taken is None or taken >= wanted or time.monotonic() >= deadline:
                return taken
            await asyncio.sleep(0.02)

    async def long_poll(self, hold: PollHold) -> Response:
        latest = await hold.latest()
        if newer(latest.version, hold.after):
            return snapshot_response(latest)
        headers = {
            "Grip-Hold": "response",
            "Grip-Channel": f"{hold.channel}; prev-id={latest.version}",
            "Grip-Timeout": str(max(1, int(hold.seconds))),
            **STREAM_HEADERS,
        }
        return Response(status_code=204, headers=headers)

    async def publish(self, batch: Sequence[Written]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.publish_timeout)
        payload = {"items": [item for written in batch for item in items(written)]}
        try:
            response = await self._client.post(self.settings.grip_publish_url, json=payload)
        except httpx.HTTPError as exc:
            raise PushError(f"GRIP publish failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise PushError(f"GRIP publish answered {response.status_code}")
        await self.records.record_delivered(batch[-1].game.game_id, batch[-1].game.version)

    async def keep_alive(self) -> None:
        return None  # the proxy sends them (Grip-Keep-Alive)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class FanoutTier(GripTier):
    """Fastly Fanout: held as with Pushpin; published through Fastly's official SDK
    (synchronous: run in a worker thread)."""

    name = "fanout"

    def __init__(self, settings: StreamTierSettings, records: PushRecords) -> None:
        super().__init__(settings, records)
        self._api: PublishApi | None = None

    async def publish(self, batch: Sequence[Written]) -> None:
        if self._api is None:
            self._api = PublishApi(fastly_client(self.settings))
        payload = [item for written in batch for item in items(written)]
        request = PublishRequest(items=[_fanout_item(item) for item in payload])
        try:
            await asyncio.to_thread(
                self._api.publish,
                service_id=self.settings.fastly_service_id,
                publish_request=request,
                _request_timeout=self.settings.publish_timeout,
            )
        except ERRORS as exc:
            raise PushError(describe(exc, "fanout publish").message) from None
        await self.records.record_delivered(batch[-1].game.game_id, batch[-1].game.version)

    async def aclose(self) -> None:
        if self._api is not None:
            await asyncio.to_thread(self._api.api_client.close)


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
