"""A small HTTP/2 server on raw ``h2`` over TLS (ALPN ``h2``) for the stand-ins: each request,
once its body is in, goes to a handler that answers (status, headers, body). A body of ``None``
ends the answer with its HEADERS frame, as APNs does for a 200 (a server that adds an empty DATA
frame breaks real clients)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from jh2.config import H2Configuration
from jh2.connection import H2Connection
from jh2.events import DataReceived, RequestReceived, StreamEnded
from jh2.exceptions import ProtocolError

Answer = tuple[int, list[tuple[str, str]], bytes | None]
Handler = Callable[[dict[str, str], bytes], Awaitable[Answer]]


class _Connection(asyncio.Protocol):
    def __init__(self, handler: Handler, window: int) -> None:
        self.handler = handler
        self.window = window
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.requests: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.transport: asyncio.Transport | None = None
        self._answering: set[asyncio.Task[None]] = set()
        self._owed: dict[int, int] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is a transport without deriving from asyncio's class.
        self.transport = cast(asyncio.Transport, transport)
        self.h2.initiate_connection()
        # Many streams at once on one connection, as the push services allow.
        self.h2.update_settings({4: 1 << 20, 3: 1000})  # initial window, max concurrent streams
        if self.window:
            self.h2.increment_flow_control_window(self.window)  # the connection's window
        self.transport.write(self.h2.data_to_send())

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
                if self.window:
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                else:
                    # A stingy server: the room comes back only once the request is answered.
                    self._owed[event.stream_id] = event.flow_controlled_length
            elif isinstance(event, StreamEnded):
                found = self.requests.pop(event.stream_id, None)
                if found is not None:
                    task = asyncio.ensure_future(self._answer(event.stream_id, *found))
                    self._answering.add(task)
                    task.add_done_callback(self._answering.discard)
        self._flush()

    async def _answer(self, stream_id: int, headers: dict[str, str], body: bytearray) -> None:
        status, answer, content = await self.handler(headers, bytes(body))
        try:
            owed = self._owed.pop(stream_id, 0)
            if owed:
                self.h2.acknowledge_received_data(owed, stream_id)
            self.h2.send_headers(
                stream_id, [(":status", str(status)), *answer], end_stream=content is None
            )
            if content is not None:
                self.h2.send_data(stream_id, content, end_stream=True)
        except ProtocolError:
            return  # the client went away meanwhile
        self._flush()

    def _flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())


async def serve(
    handler: Handler,
    host: str,
    port: int,
    cert_file: Path,
    key_file: Path,
    window: int = 1 << 24,
) -> asyncio.Server:
    """Listen on ``host:port`` over TLS with ALPN ``h2``; the caller closes the server.
    ``window``: how far each connection's flow-control window is opened beyond HTTP/2's
    65,535 bytes (0: not at all, and a request's room comes back only when it is answered, so
    a client must wait for the window as it fills)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.set_alpn_protocols(["h2"])
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Connection(handler, window), host, port, ssl=context)
