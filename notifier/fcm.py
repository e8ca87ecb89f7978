"""Firebase Cloud Messaging, HTTP v1: ``POST {base}/v1/projects/{project}/messages:send`` with
an OAuth 2.0 access token of the project's service account (google-auth makes and refreshes it
from the key file; the key file's ``token_uri`` says where).

What each answer means, as Firebase documents it:
- 200 ``{"name": …}``: taken.
- 404 ``UNREGISTERED`` (and 403 ``SENDER_ID_MISMATCH``, a token of another project): the token
  is gone; drop it.
- 401: the access token was refused: made afresh once, then final.
- 429 ``QUOTA_EXCEEDED``, 500 ``INTERNAL``, 503 ``UNAVAILABLE``: retried after ``Retry-After``
  or a jittered backoff. The project's quota (600,000 messages a minute by default) is paced
  here too, so a big game's Android share waits for the quota instead of being refused.
- Anything else (400 ``INVALID_ARGUMENT``…): final, never retried.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import requests
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account

from notifier.devices import Device, FcmDevice
from notifier.http2 import Http2Client, Http2Error
from notifier.rules import Alert
from notifier.sending import Outcome, Sent, wait_to_retry
from runtime.ratelimit import TokenBucket

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
#: How long an undelivered message is worth delivering (the device was off).
TTL = "600s"

_GONE = {"UNREGISTERED", "SENDER_ID_MISMATCH"}


class AccessToken:
    """The service account's access token, refreshed when it nears its end. google-auth's
    refresh is synchronous: it runs in a thread, one at a time."""

    def __init__(self, key: dict[str, Any], ca_file: str = "") -> None:
        # google-auth is untyped here: the one call is checked by the tests.
        self.credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            key, scopes=[SCOPE]
        )
        self.project_id = str(key["project_id"])
        session = requests.Session()
        if ca_file:
            session.verify = ca_file
            # Or REQUESTS_CA_BUNDLE, where set, would win over the session's own setting.
            session.trust_env = False
        self._session = session
        self._request = AuthRequest(session)
        self._lock = asyncio.Lock()

    def close(self) -> None:
        self._session.close()

    async def header(self, fresh: bool = False) -> str:
        async with self._lock:
            if fresh or not self.credentials.valid:
                await asyncio.to_thread(self.credentials.refresh, self._request)
            return f"Bearer {self.credentials.token}"


def message(token: str, alert: Alert, url: str) -> dict[str, Any]:
    """One FCM v1 message: shown by the system (``notification``), the same fields as data
    (values are strings in FCM), one collapse key and tag per game."""
    return {
        "message": {
            "token": token,
            "notification": {"title": alert.title, "body": alert.body},
            "data": {
                "game_id": alert.game_id,
                "version": str(alert.version),
                "kind": str(alert.kind),
                "url": url,
            },
            "android": {
                "collapse_key": alert.collapse_key,
                "priority": "high",
                "ttl": TTL,
                "notification": {"tag": alert.collapse_key},
            },
        }
    }


class FcmSender:
    """Alerts to :class:`~notifier.devices.FcmDevice` registrations of one Firebase project,
    over HTTP/2 to ``fcm.googleapis.com`` (``client``'s host)."""

    def __init__(
        self,
        client: Http2Client,
        token: AccessToken,
        per_minute: int = 600_000,
        game_url: str = "/games/{game_id}",
        attempts: int = 4,
        backoff_seconds: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.token = token
        self.path = f"/v1/projects/{token.project_id}/messages:send"
        self.quota = TokenBucket(per_minute / 60, max(1, per_minute // 60))
        self.game_url = game_url
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self._rng = rng or random.Random()

    async def send(self, device: Device, alert: Alert) -> Sent:
        assert isinstance(device, FcmDevice)
        body = json.dumps(
            message(device.token, alert, self.game_url.format(game_id=alert.game_id)),
            separators=(",", ":"),
        ).encode()
        fresh = False
        status = 0
        for attempt in range(1, self.attempts + 1):
            await self.quota.acquire()
            headers = {
                "authorization": await self.token.header(fresh),
                "content-type": "application/json",
            }
            try:
                answer = await self.client.post(self.path, headers, body)
            except (Http2Error, OSError):
                status = 0  # unreachable for a moment: like a 503
                await self._wait(attempt, None)
                continue
            status = answer.status
            if status == 200:
                return Sent(Outcome.SENT, status, attempt)
            code = _error_code(answer.body)
            if code in _GONE:
                return Sent(Outcome.GONE, status, attempt, code)
            if status == 401 and not fresh:
                fresh = True  # a token made afresh, once
                continue
            if status == 429 or status >= 500:
                retry_after = answer.headers.get("retry-after")
                if status == 429 and retry_after and retry_after.isdigit():
                    self.quota.pause(float(retry_after))  # the project's quota, not this send
                await self._wait(attempt, retry_after)
                continue
            return Sent(Outcome.FAILED, status, attempt, code)
        return Sent(Outcome.FAILED, status, self.attempts, "gave up")

    async def _wait(self, attempt: int, retry_after: str | None) -> None:
        await wait_to_retry(attempt, retry_after, self.backoff_seconds, self._rng)


def _error_code(body: bytes | bytearray) -> str:
    """FCM's own code (``details[].errorCode``), else the error's ``status``."""
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return ""
    for detail in error.get("details", []) or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status", ""))
