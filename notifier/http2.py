"""A small HTTP/2 client on ``h2`` for the push services (APNs, FCM, browsers' push
services): one TLS connection (ALPN ``h2``) carries many requests at once, each a stream, as
many as the server's ``SETTINGS_MAX_CONCURRENT_STREAMS`` allows; a few connections per host.

Why not httpx: a fan-out is thousands of small POSTs to one host, where the client's CPU per
request is the figure that counts; httpx's HTTP/2 (on the same ``h2``) and HTTP/1.1 clients cost
two to five times this one per request here, and queue beyond 100 streams a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import cast

from jh2.config import H2Configuration
from jh2.connection import H2Connection
from jh2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from jh2.exceptions import ProtocolError


class Http2Error(Exception):
    """The connection failed or ended before an answer came."""


@dataclass
class Answer:
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
        self.answers: dict[int, Answer] = {}
        self.closed = asyncio.get_running_loop().create_future()
        #: Set when a stream ends or the server allows more: a request waiting for room looks.
        self.room = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is a transport without deriving from asyncio's class.
        self.transport = cast(asyncio.Transport, transport)
        self.h2.initiate_connection()
        self.transport.write(self.h2.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(Http2Error(f"connection lost: {exc}" if exc else "connection closed"))

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
            self._fail(Http2Error(f"protocol error: {exc}"))
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
                        answer.done.set_exception(Http2Error(f"stream reset: {event.error_code}"))
                    else:
                        answer.done.set_result(None)
                self._wake()
            elif isinstance(event, ConnectionTerminated):
                self._fail(Http2Error(f"GOAWAY: {event.error_code}"))
            elif isinstance(event, RemoteSettingsChanged | WindowUpdated):
                self._wake()
        if self.transport is not None:
            self.transport.write(self.h2.data_to_send())

    def _wake(self) -> None:
        self.room.set()

    def _has_room(self) -> bool:
        return bool(self.h2.open_outbound_streams < self.h2.remote_settings.max_concurrent_streams)

    async def request(self, headers: list[tuple[str, str]], body: bytes) -> Answer:
        if self.closed.done() or self.transport is None:
            raise Http2Error("connection closed")
        while not self._has_room() and not self.closed.done():
            self.room.clear()
            await self.room.wait()
        if self.closed.done():
            raise Http2Error("connection closed")
        stream_id = self.h2.get_next_available_stream_id()
        done = asyncio.get_running_loop().create_future()
        answer = Answer(done=done)
        self.answers[stream_id] = answer
        try:
            self.h2.send_headers(stream_id, headers)
            self.transport.write(self.h2.data_to_send())
            # Flow control: the body goes once the server's windows (the stream's and the
            # connection's, which every stream shares) have room for it.
            while self.h2.local_flow_control_window(stream_id) < len(body):
                if self.closed.done():
                    raise Http2Error("connection closed")
                self.room.clear()
                await self.room.wait()
            self.h2.send_data(stream_id, body, end_stream=True)
            self.transport.write(self.h2.data_to_send())
            await done
        except BaseException as exc:
            self.answers.pop(stream_id, None)
            done.cancel()  # nobody waits for it now
            if not self.transport.is_closing():
                with contextlib.suppress(ProtocolError):
                    self.h2.reset_stream(stream_id)  # the server may forget it too
                    self.transport.write(self.h2.data_to_send())
            if isinstance(exc, ProtocolError):
                # The protocol refused this request (a stream the server closed meanwhile):
                # the request failed, the connection goes on.
                raise Http2Error(f"stream {stream_id}: {exc}") from exc
            raise
        return answer

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            with contextlib.suppress(ProtocolError):
                self.h2.close_connection()
                self.transport.write(self.h2.data_to_send())
            self.transport.close()


class Http2Client:
    """Requests to one host over a few connections, each opened when first needed and again
    after it ends (services close idle connections and send GOAWAY on some errors)."""

    def __init__(
        self,
        host: str,
        port: int = 443,
        connections: int = 2,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        #: A request (connecting included) not answered within this long fails.
        self.timeout = timeout
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

    async def _post(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
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

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """``POST path``: the answer, or :class:`Http2Error` (the connection failed, or no
        answer came within ``timeout``)."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(path, headers, body)
        except TimeoutError:
            raise Http2Error(f"no answer from {self.host} in {self.timeout:g} s") from None

    async def aclose(self) -> None:
        for connection in self._pool:
            if connection is not None:
                connection.close()


class Http2Pool:
    """One :class:`Http2Client` per host a sender reaches (browsers' push services are many:
    Google's, Mozilla's, Apple's…), made when first needed."""

    def __init__(
        self, ssl_context: ssl.SSLContext, connections: int = 1, timeout: float = 10.0
    ) -> None:
        self._context = ssl_context
        self._connections = connections
        self._timeout = timeout
        self._clients: dict[tuple[str, int], Http2Client] = {}

    def client(self, host: str, port: int) -> Http2Client:
        found = self._clients.get((host, port))
        if found is None:
            found = Http2Client(host, port, self._connections, self._context, self._timeout)
            self._clients[(host, port)] = found
        return found

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
