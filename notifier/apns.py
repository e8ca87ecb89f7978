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

import functools
import json
import random
import time
from collections.abc import Callable

import jwt

from notifier.devices import ApnsDevice, Device
from notifier.http2 import Http2Client, Http2Error
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


@functools.lru_cache(maxsize=64)
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
        client: Http2Client,
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
            except (Http2Error, OSError):
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
