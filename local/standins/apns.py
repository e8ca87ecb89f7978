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
import ssl
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, RequestReceived, StreamEnded
from h2.exceptions import ProtocolError

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


class _Server(asyncio.Protocol):
    def __init__(self, service: ApnsStandIn) -> None:
        self.service = service
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.requests: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.transport: asyncio.Transport | None = None
        self._answering: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.h2.initiate_connection()
        # As APNs: many streams at once on one connection.
        self.h2.update_settings({4: 1 << 20, 3: 1000})  # initial window, max concurrent streams
        transport.write(self.h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except ProtocolError:
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            if isinstance(event, RequestReceived):
                headers = {str(k): str(v) for k, v in event.headers or []}
                self.requests[event.stream_id] = (headers, bytearray())
            elif isinstance(event, DataReceived):
                found = self.requests.get(event.stream_id)
                if found is not None:
                    found[1].extend(event.data or b"")
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                found = self.requests.pop(event.stream_id, None)
                if found is not None:
                    task = asyncio.ensure_future(self._respond(event.stream_id, *found))
                    self._answering.add(task)
                    task.add_done_callback(self._answering.discard)
        self._flush()

    async def _respond(self, stream_id: int, headers: dict[str, str], body: bytearray) -> None:
        if self.service.delay_seconds:
            await asyncio.sleep(self.service.delay_seconds)
        status, reason = self.service.answer(headers, bytes(body))
        if reason:
            self.service.refused.append(reason)
        apns_id = headers.get("apns-id") or str(uuid.uuid4()).upper()
        answer = [(":status", str(status)), ("apns-id", apns_id)]
        try:
            if status == 200:
                self.h2.send_headers(stream_id, answer, end_stream=True)
            else:
                error: dict[str, object] = {"reason": reason}
                if status == 410:
                    error["timestamp"] = int(time.time() * 1000)
                content = json.dumps(error).encode()
                answer.append(("content-type", "application/json"))
                self.h2.send_headers(stream_id, answer)
                self.h2.send_data(stream_id, content, end_stream=True)
        except ProtocolError:
            return  # the client went away meanwhile
        self._flush()

    def _flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())


async def serve(
    service: ApnsStandIn, host: str, port: int, cert_file: Path, key_file: Path
) -> asyncio.Server:
    """Listen on ``host:port`` over TLS with ALPN ``h2``; the caller closes the server."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.set_alpn_protocols(["h2"])
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Server(service), host, port, ssl=context)
