"""A browser's push service as RFC 8030 and RFC 8292 define it, for the sender's tests and the
local stack: it
checks the VAPID token (ES256, the key it names, its audience, expiry and subject), the TTL,
Topic, encoding and size, decrypts every message with the subscription's private key
(RFC 8291) and keeps what it read. Subscriptions it does not know answer 404, ones it dropped
410; it can be told to answer 429 or 503 next."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from dataclasses import dataclass, field

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from local.standins.http2 import Answer
from local.standins.tally import Tally

_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A subscription as the browser holds it: its key pair and auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> Browser:
        import os

        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    def keys(self) -> dict[str, str]:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64(point), "auth": b64(self.auth)}


@dataclass
class PushService:
    browsers: dict[str, Browser] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    #: What each subscription received, decrypted: (topic, plaintext).
    received: dict[str, list[tuple[str | None, bytes]]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    #: Statuses to answer next, before looking at the request (429, 503).
    next_answers: list[int] = field(default_factory=list)
    #: How long each message takes to be taken (a service under load).
    delay_seconds: float = 0.0
    tally: Tally = field(default_factory=Tally)

    def subscribe(self, base_url: str, subscription_id: str) -> dict[str, object]:
        browser = Browser.new()
        self.browsers[subscription_id] = browser
        return {"endpoint": f"{base_url}/push/{subscription_id}", "keys": browser.keys()}

    def _refuse(self, status: int, reason: str) -> Answer:
        self.refused.append(reason)
        return status, [("content-type", "text/plain")], reason.encode()

    async def handle(self, headers: dict[str, str], body: bytes) -> Answer:
        """``POST /push/{id}`` (over HTTP/2: :func:`local.standins.http2.serve`)."""
        if self.next_answers:
            return self.next_answers.pop(0), [("retry-after", "0")], b""
        found = re.fullmatch(r"/push/([^/?]+)", headers.get(":path", ""))
        if headers.get(":method") != "POST" or found is None:
            return 404, [], b""
        subscription_id = found.group(1)
        self.tally.attempt(subscription_id)
        if subscription_id in self.gone:
            return 410, [], b""
        browser = self.browsers.get(subscription_id)
        if browser is None:
            return 404, [], b""
        problem = self._vapid(headers)
        if problem:
            return self._refuse(403 if "expired" in problem else 401, problem)
        ttl = headers.get("ttl", "")
        if not ttl.isdigit():
            return self._refuse(400, "TTL missing")
        topic = headers.get("topic")
        if topic is not None and not _TOPIC.match(topic):
            return self._refuse(400, "bad Topic")
        if headers.get("content-encoding") != "aes128gcm":
            return self._refuse(415, "not aes128gcm")
        if len(body) > 4096:
            return self._refuse(413, "payload too large")
        try:
            plain = http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
            )
        except Exception:  # what a receiver cannot decrypt, whatever the reason
            return self._refuse(400, "cannot decrypt")
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        self.received.setdefault(subscription_id, []).append((topic, plain))
        self.tally.take(subscription_id)
        return 201, [("location", f"/message/{len(body)}")], b""

    def _vapid(self, headers: dict[str, str]) -> str:
        """Why the VAPID header is refused (RFC 8292), or ''."""
        found = re.match(
            r"^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$", headers.get("authorization", "")
        )
        if found is None:
            return "no vapid authorization"
        token, key = found.groups()
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
            claims = jwt.decode(
                token,
                public,
                algorithms=["ES256"],
                audience=f"https://{headers.get(':authority', '')}",
                options={"require": ["exp", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            return "token expired"
        except (jwt.InvalidTokenError, ValueError) as exc:
            return f"bad token: {exc}"
        if claims["exp"] > time.time() + 24 * 3600:
            return "token lives over 24 h"
        if not str(claims["sub"]).startswith(("mailto:", "https://")):
            return "bad subject"
        return ""
