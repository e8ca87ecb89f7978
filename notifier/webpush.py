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

from py_vapid import Vapid02
from pywebpush import WebPusher

from notifier.devices import Subscription
from notifier.http2 import Http2Error, Http2Pool
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
        pool: Http2Pool,
        attempts: int = 4,
        backoff_seconds: float = 0.5,
        now: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: or https: URL (RFC 8292)")
        self.vapid = vapid
        self.subject = subject
        self.pool = pool
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
        headers = {"authorization": signed["Authorization"]}
        self._headers[audience] = (expires, headers)
        return headers

    async def send(self, subscription: Subscription, payload: bytes, topic: str) -> Sent:
        """Encrypt ``payload`` for the subscription and hand it to its push service. ``topic``
        (at most 32 characters of base64url) makes a newer message replace one not yet
        delivered."""
        info = subscription.model_dump()
        body = WebPusher(info).encode(payload, "aes128gcm")["body"]
        where = urlsplit(subscription.endpoint)
        client = self.pool.client(where.hostname or "", where.port or 443)
        path = where.path + (f"?{where.query}" if where.query else "")
        fresh = False
        status = 0
        for attempt in range(1, self.attempts + 1):
            headers = {
                **self._authorization(subscription.endpoint, fresh),
                "ttl": str(TTL_SECONDS),
                "content-encoding": "aes128gcm",
                "content-type": "application/octet-stream",
                "topic": topic,
                "urgency": "high",
            }
            try:
                answer = await client.post(path, headers, body)
            except (Http2Error, OSError):
                status = 0  # the service unreachable for a moment: like a 503
                await self._wait(attempt, None)
                continue
            status = answer.status
            if status in (201, 202):
                return Sent(Outcome.SENT, status, attempt)
            if status in (404, 410):
                return Sent(Outcome.GONE, status, attempt)
            if status in (401, 403) and not fresh:
                fresh = True  # a token made afresh, once
                continue
            if status == 429 or status >= 500:
                await self._wait(attempt, answer.headers.get("retry-after"))
                continue
            reason = bytes(answer.body[:200]).decode(errors="replace")
            return Sent(Outcome.FAILED, status, attempt, reason)
        return Sent(Outcome.FAILED, status, self.attempts, "gave up")

    async def _wait(self, attempt: int, retry_after: str | None) -> None:
        await wait_to_retry(attempt, retry_after, self.backoff_seconds, self._rng)
