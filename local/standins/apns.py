"""APNs as Apple documents its provider API, for the sender's tests and the local stack: HTTP/2
over TLS (ALPN ``h2``), ``POST /3/device/<token>``, the provider token checked (ES256 with the
key it names, the team, at most an hour old), the topic, push type, collapse id and payload
checked, and Apple's answers: a 200 of HEADERS only (with ``apns-id``), an error with one DATA
frame of JSON ``{"reason": …}`` (410 adds ``timestamp``).

Written on raw ``h2``: servers that end a 200 with an empty DATA frame break real clients.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt

from local.standins.http2 import Answer
from local.standins.http2 import serve as serve_http2
from local.standins.tally import Tally

_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}")
_PUSH_TYPES = {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm",
               "liveactivity", "pushtotalk"}  # fmt: skip


@dataclass
class ApnsStandIn:
    """Apple's service for one team's key and one app (``topic``)."""

    team_id: str
    key_id: str
    public_key_pem: str
    topic: str
    #: Device tokens it knows; any other is a BadDeviceToken. Unregistered ones answer 410.
    devices: set[str] = field(default_factory=set)
    unregistered: set[str] = field(default_factory=set)
    #: Per device token: (collapse id, payload) of each notification taken, in order.
    received: dict[str, list[tuple[str | None, bytes]]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    #: Statuses to answer next, before looking at the request (429, 503).
    next_answers: list[int] = field(default_factory=list)
    delay_seconds: float = 0.0
    #: Any well-formed token is a device (a benchmark's hundred thousand), bar the unregistered.
    accept_any: bool = False
    tally: Tally = field(default_factory=Tally)

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """(status, reason) for one request; reason empty for a 200."""
        if self.next_answers:
            status = self.next_answers.pop(0)
            return status, "TooManyRequests" if status == 429 else "ServiceUnavailable"
        if headers.get(":method") != "POST":
            return 405, "MethodNotAllowed"
        path = headers.get(":path", "")
        if not path.startswith("/3/device/"):
            return 404, "BadPath"
        token = path.removeprefix("/3/device/")
        problem = self._provider_token(headers.get("authorization", ""))
        if problem:
            return 403, problem
        if headers.get("apns-topic") != self.topic:
            return 400, "DeviceTokenNotForTopic" if headers.get("apns-topic") else "MissingTopic"
        if headers.get("apns-push-type", "alert") not in _PUSH_TYPES:
            return 400, "InvalidPushType"
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            return 400, "BadCollapseId"
        if headers.get("apns-priority", "10") not in ("5", "10", "1"):
            return 400, "BadPriority"
        if not headers.get("apns-expiration", "0").isdigit():
            return 400, "BadExpirationDate"
        self.tally.attempt(token)
        known = self.accept_any or token in self.devices or token in self.unregistered
        if not _TOKEN.fullmatch(token) or not known:
            return 400, "BadDeviceToken"
        if token in self.unregistered:
            return 410, "Unregistered"
        if len(body) > 4096:
            return 413, "PayloadTooLarge"
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, "BadPayload"
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return 400, "PayloadEmpty"
        self.received.setdefault(token, []).append((headers.get("apns-collapse-id"), body))
        self.tally.take(token)
        return 200, ""

    def _provider_token(self, authorization: str) -> str:
        scheme, _, token = authorization.partition(" ")
        if scheme != "bearer" or not token:
            return "MissingProviderToken"
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self.public_key_pem,
                algorithms=["ES256"],
                options={"require": ["iat", "iss"]},
            )
        except jwt.InvalidTokenError:
            return "InvalidProviderToken"
        if header.get("kid") != self.key_id or claims.get("iss") != self.team_id:
            return "InvalidProviderToken"
        if time.time() - float(claims["iat"]) > 3600:
            return "ExpiredProviderToken"
        return ""

    async def handle(self, headers: dict[str, str], body: bytes) -> Answer:
        """One request, answered as Apple does."""
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        status, reason = self.answer(headers, body)
        if reason:
            self.refused.append(reason)
        apns_id = headers.get("apns-id") or str(uuid.uuid4()).upper()
        if status == 200:
            return 200, [("apns-id", apns_id)], None
        error: dict[str, object] = {"reason": reason}
        if status == 410:
            error["timestamp"] = int(time.time() * 1000)
        content = [("apns-id", apns_id), ("content-type", "application/json")]
        return status, content, json.dumps(error).encode()


async def serve(
    service: ApnsStandIn, host: str, port: int, cert_file: Path, key_file: Path
) -> asyncio.Server:
    """Listen on ``host:port`` over TLS with ALPN ``h2``; the caller closes the server."""
    return await serve_http2(service.handle, host, port, cert_file, key_file)
