"""Web Push (RFC 8030) to a browser's push service: the message encrypted for the subscription
(RFC 8291, ``aes128gcm``, by ``pywebpush``/``http_ece``), the sender identified by VAPID
(RFC 8292, by ``py_vapid``), over one pooled HTTP client.

What each answer means, as the push services document it:
- 201 (or 202): taken.
- 404 and 410: the subscription is gone; drop it at once and never send to it again.
- 429 and 5xx: try again later, after ``Retry-After`` when given, else a jittered backoff.
- 401 and 403: the VAPID token was refused. One made afresh is tried once (it may have expired
  while cached); if that is refused too, the error is final.
- Any other 4xx (a body too large, a bad header): final, never retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
from py_vapid import Vapid02
from pywebpush import WebPusher

from notifier.devices import Subscription
from notifier.sending import Outcome, Sent, wait_to_retry

#: A VAPID token lives this long (the push services accept at most 24 h)…
TOKEN_SECONDS = 12 * 3600
#: …and is made again this long before it ends.
TOKEN_MARGIN_SECONDS = 3600
#: How long a push service keeps a message for an offline browser.
TTL_SECONDS = 600


class WebPushSender:
    """``await sender.send(subscription, payload, topic)``; one per process (its VAPID headers
    are cached per push service, its connections pooled)."""

    def __init__(
        self,
        vapid: Vapid02,
        subject: str,
        http: httpx.AsyncClient,
        attempts: int = 4,
        backoff_seconds: float = 0.5,
        now: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: or https: URL (RFC 8292)")
        self.vapid = vapid
        self.subject = subject
        self.http = http
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self._now = now
        self._rng = rng or random.Random()
        self._headers: dict[str, tuple[float, dict[str, str]]] = {}

    def _authorization(self, endpoint: str, fresh: bool = False) -> dict[str, str]:
        """The VAPID header for the endpoint's push service, cached until near its end."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = self._now()
        cached = self._headers.get(audience)
        if cached is not None and not fresh and cached[0] - TOKEN_MARGIN_SECONDS > now:
            return cached[1]
        expires = int(now) + TOKEN_SECONDS
        signed = self.vapid.sign({"aud": audience, "exp": expires, "sub": self.subject})
        headers = {"Authorization": signed["Authorization"]}
        self._headers[audience] = (expires, headers)
        return headers

    async def send(self, subscription: Subscription, payload: bytes, topic: str) -> Sent:
        """Encrypt ``payload`` for the subscription and hand it to its push service. ``topic``
        (at most 32 characters of base64url) makes a newer message replace one not yet
        delivered."""
        info = subscription.model_dump()
        body = WebPusher(info).encode(payload, "aes128gcm")["body"]
        fresh = False
        status = 0
        for attempt in range(1, self.attempts + 1):
            headers = {
                **self._authorization(subscription.endpoint, fresh),
                "TTL": str(TTL_SECONDS),
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "Topic": topic,
                "Urgency": "high",
            }
            try:
                response = await self.http.post(
                    subscription.endpoint, content=body, headers=headers
                )
            except httpx.HTTPError:
                status = 0  # the service unreachable for a moment: like a 503
                await self._wait(attempt, None)
                continue
            status = response.status_code
            if status in (201, 202):
                return Sent(Outcome.SENT, status, attempt)
            if status in (404, 410):
                return Sent(Outcome.GONE, status, attempt)
            if status in (401, 403) and not fresh:
                fresh = True  # a token made afresh, once
                continue
            if status == 429 or status >= 500:
                await self._wait(attempt, response.headers.get("retry-after"))
                continue
            return Sent(Outcome.FAILED, status, attempt, response.text[:200])
        return Sent(Outcome.FAILED, status, self.attempts, "gave up")

    async def _wait(self, attempt: int, retry_after: str | None) -> None:
        await wait_to_retry(attempt, retry_after, self.backoff_seconds, self._rng)
