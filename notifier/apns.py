"""APNs (Apple Push Notification service) over HTTP/2: a small client on ``h2``, as Apple
documents the provider API.

- One TLS connection (ALPN ``h2``) carries many requests at once, each a stream: ``POST
  /3/device/<token>`` with ``authorization: bearer <JWT>``, ``apns-topic`` (the app's bundle
  id), ``apns-push-type: alert``, ``apns-priority``, ``apns-expiration`` and
  ``apns-collapse-id`` (at most 64 bytes: a newer alert replaces the one shown); a payload of at
  most 4 KB.
- The JWT (ES256 with the team's key, ``kid`` and ``iss``/``iat``) is made again every 40
  minutes: Apple refuses one older than an hour, and more than one new token per 20 minutes.
- A 200 has no body. An error has one JSON body, ``{"reason": …}``: ``410 Unregistered`` and
  ``400 BadDeviceToken`` mean the token is gone; ``403
  ExpiredProviderToken`` asks for a new JWT (made once, then final); 429 and 5xx are retried
  after a jittered backoff; anything else is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import ProtocolError

from notifier.devices import ApnsDevice, Device
from notifier.rules import Alert
from notifier.sending import Outcome, Sent, wait_to_retry

#: A provider token is made again this often (Apple: at most one an hour old, at most one new
#: one per 20 minutes).
TOKEN_SECONDS = 40 * 60
#: Apple's payload limit for alerts.
MAX_PAYLOAD = 4096
#: How long an undelivered alert is worth delivering (the device was off).
EXPIRATION_SECONDS = 600

#: The token is gone. (``DeviceTokenNotForTopic`` says our topic is wrong, not the device.)
_GONE = {"Unregistered", "BadDeviceToken"}


class ApnsError(Exception):
    """The connection failed or ended before an answer came."""


class ProviderToken:
    """The ``authorization`` header of every request, made again before Apple would refuse it."""

    def __init__(
        self, key_pem: str, key_id: str, team_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key_pem
        self.key_id = key_id
        self.team_id = team_id
        self._clock = clock
        self._made = float("-inf")
        self._header = ""

    def header(self, fresh: bool = False) -> str:
        now = self._clock()
        if fresh or now - self._made >= TOKEN_SECONDS:
            token = jwt.encode(
                {"iss": self.team_id, "iat": int(now)},
                self._key,
                algorithm="ES256",
                headers={"kid": self.key_id},
            )
            self._header, self._made = f"bearer {token}", now
        return self._header


@dataclass
class _Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    done: asyncio.Future[None] | None = None


class _Http2(asyncio.Protocol):
    """One HTTP/2 connection: requests multiplexed as streams, as many at once as the server's
    ``SETTINGS_MAX_CONCURRENT_STREAMS`` allows."""

    def __init__(self) -> None:
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
        self.transport: asyncio.Transport | None = None
        self.answers: dict[int, _Answer] = {}
        self.closed = asyncio.get_running_loop().create_future()
        #: Set when a stream ends or the server allows more: a request waiting for room looks.
        self.room = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.h2.initiate_connection()
        transport.write(self.h2.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ApnsError(f"connection lost: {exc}" if exc else "connection closed"))

    def _fail(self, error: Exception) -> None:
        for answer in self.answers.values():
            if answer.done is not None and not answer.done.done():
                answer.done.set_exception(error)
        self.answers.clear()
        if not self.closed.done():
            self.closed.set_result(None)
        self.room.set()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as exc:
            self._fail(ApnsError(f"protocol error: {exc}"))
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            if isinstance(event, ResponseReceived):
                answer = self.answers.get(event.stream_id)
                if answer is not None:
                    answer.headers = {str(k): str(v) for k, v in event.headers or []}
                    answer.status = int(answer.headers.get(":status", "0"))
            elif isinstance(event, DataReceived):
                answer = self.answers.get(event.stream_id)
                if answer is not None:
                    answer.body += event.data or b""
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded | StreamReset):
                answer = self.answers.pop(event.stream_id, None)
                if answer is not None and answer.done is not None and not answer.done.done():
                    if isinstance(event, StreamReset):
                        answer.done.set_exception(ApnsError(f"stream reset: {event.error_code}"))
                    else:
                        answer.done.set_result(None)
                self._wake()
            elif isinstance(event, ConnectionTerminated):
                self._fail(ApnsError(f"GOAWAY: {event.error_code}"))
            elif isinstance(event, RemoteSettingsChanged):
                self._wake()
        if self.transport is not None:
            self.transport.write(self.h2.data_to_send())

    def _wake(self) -> None:
        self.room.set()

    def _has_room(self) -> bool:
        return self.h2.open_outbound_streams < self.h2.remote_settings.max_concurrent_streams

    async def request(self, headers: list[tuple[str, str]], body: bytes) -> _Answer:
        if self.closed.done() or self.transport is None:
            raise ApnsError("connection closed")
        while not self._has_room() and not self.closed.done():
            self.room.clear()
            await self.room.wait()
        if self.closed.done():
            raise ApnsError("connection closed")
        stream_id = self.h2.get_next_available_stream_id()
        answer = _Answer(done=asyncio.get_running_loop().create_future())
        self.answers[stream_id] = answer
        self.h2.send_headers(stream_id, headers)
        self.h2.send_data(stream_id, body, end_stream=True)
        self.transport.write(self.h2.data_to_send())
        assert answer.done is not None
        await answer.done
        return answer

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            with contextlib.suppress(ProtocolError):
                self.h2.close_connection()
                self.transport.write(self.h2.data_to_send())
            self.transport.close()


class ApnsClient:
    """Requests to one APNs host over a few connections, each opened when first needed and
    again after it ends (APNs closes idle connections and sends GOAWAY on some errors)."""

    def __init__(
        self,
        host: str,
        port: int = 443,
        connections: int = 2,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._context = ssl_context or ssl.create_default_context()
        self._context.set_alpn_protocols(["h2"])
        self._pool: list[_Http2 | None] = [None] * connections
        self._opening: list[asyncio.Lock] = [asyncio.Lock() for _ in range(connections)]
        self._next = 0

    async def _connection(self) -> _Http2:
        index = self._next
        self._next = (self._next + 1) % len(self._pool)
        async with self._opening[index]:
            current = self._pool[index]
            if current is None or current.closed.done():
                loop = asyncio.get_running_loop()
                _, protocol = await loop.create_connection(
                    _Http2, self.host, self.port, ssl=self._context, server_hostname=self.host
                )
                current = self._pool[index] = protocol
            return current

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        connection = await self._connection()
        authority = self.host if self.port == 443 else f"{self.host}:{self.port}"
        request = [
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", authority),
            (":path", path),
            *headers.items(),
        ]
        return await connection.request(request, body)

    async def aclose(self) -> None:
        for connection in self._pool:
            if connection is not None:
                connection.close()


def alert_payload(alert: Alert, url: str) -> bytes:
    """What an iPhone shows: the alert, grouped by game (``thread-id``), and where it leads."""
    return json.dumps(
        {
            "aps": {
                "alert": {"title": alert.title, "body": alert.body},
                "thread-id": alert.collapse_key,
                "sound": "default",
            },
            "game_id": alert.game_id,
            "version": alert.version,
            "kind": str(alert.kind),
            "url": url,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


class ApnsSender:
    """Alerts to :class:`~notifier.devices.ApnsDevice` registrations of one app (``topic``)."""

    def __init__(
        self,
        client: ApnsClient,
        token: ProviderToken,
        topic: str,
        game_url: str = "/games/{game_id}",
        attempts: int = 4,
        backoff_seconds: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.token = token
        self.topic = topic
        self.game_url = game_url
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self._rng = rng or random.Random()

    async def send(self, device: Device, alert: Alert) -> Sent:
        assert isinstance(device, ApnsDevice)
        body = alert_payload(alert, self.game_url.format(game_id=alert.game_id))
        if len(body) > MAX_PAYLOAD:
            return Sent(Outcome.FAILED, 413, 0, "payload over 4 KB")
        fresh = False
        status = 0
        for attempt in range(1, self.attempts + 1):
            headers = {
                "authorization": self.token.header(fresh),
                "apns-topic": self.topic,
                "apns-push-type": "alert",
                "apns-priority": "10",
                "apns-expiration": str(int(time.time()) + EXPIRATION_SECONDS),
                "apns-collapse-id": alert.collapse_key[:64],
            }
            try:
                answer = await self.client.post(f"/3/device/{device.token}", headers, body)
            except (ApnsError, OSError):
                status = 0  # the connection ended: like a 503, on a new one
                await self._wait(attempt)
                continue
            status = answer.status
            if status == 200:
                return Sent(Outcome.SENT, status, attempt)
            reason = _reason(answer.body)
            if status == 410 or reason in _GONE:
                return Sent(Outcome.GONE, status, attempt, reason)
            if status == 403 and reason == "ExpiredProviderToken" and not fresh:
                fresh = True  # a token made afresh, once
                continue
            if status == 429 or status >= 500:
                await self._wait(attempt)
                continue
            return Sent(Outcome.FAILED, status, attempt, reason)
        return Sent(Outcome.FAILED, status, self.attempts, "gave up")

    async def _wait(self, attempt: int) -> None:
        await wait_to_retry(attempt, None, self.backoff_seconds, self._rng)


def _reason(body: bytes | bytearray) -> str:
    try:
        found = json.loads(body)
    except ValueError:
        return ""
    return str(found.get("reason", "")) if isinstance(found, dict) else ""
