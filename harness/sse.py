"""A small, cheap SSE client on raw asyncio streams: thousands of them fit in one process.

It speaks HTTP/1.0, so a streamed answer arrives as plain bytes until the server closes it (no
chunked framing to undo).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Event:
    id: int | None
    event: str
    data: str
    #: When the last byte of the event arrived (time.monotonic()).
    at: float


@dataclass
class Stream:
    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    events: list[Event] = field(default_factory=list)
    #: Bytes read but not yet a whole event, and whole events not yet taken. Both belong to the
    #: stream, not to one iteration: two events can come in one read, and a :meth:`take` that
    #: stops after the first must leave the second for the next.
    splitter: EventSplitter = field(default_factory=lambda: EventSplitter())
    ready: deque[Event] = field(default_factory=deque)

    async def __aiter__(self) -> AsyncIterator[Event]:
        # Whole reads split on blank lines: thousands of streams in one process spend their
        # time here, and a readline per field costs several times more.
        while True:
            while self.ready:
                yield self.ready.popleft()
            chunk = await self.reader.read(65536)
            if not chunk:
                return
            self.ready.extend(self.splitter.feed(chunk, time.monotonic()))

    async def take(self, count: int, seconds: float = 20.0) -> list[Event]:
        """The next ``count`` events, or TimeoutError after ``seconds``."""
        events: list[Event] = []

        async def collect() -> None:
            async for event in self:
                events.append(event)
                if len(events) == count:
                    return

        await asyncio.wait_for(collect(), seconds)
        return events

    def close(self) -> None:
        self.writer.close()


class EventSplitter:
    """A stream's bytes in, as they came; its whole events out (comments and keep-alives, which
    carry no data, are not events)."""

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, chunk: bytes, at: float) -> list[Event]:
        """The events ``chunk`` completes, each stamped ``at`` (when their last byte came)."""
        pending = self.pending + (chunk.replace(b"\r\n", b"\n") if b"\r" in chunk else chunk)
        *blocks, self.pending = pending.split(b"\n\n")
        return [event for block in blocks if (event := _parse(block, at)) is not None]


def _parse(block: bytes, at: float) -> Event | None:
    """One event's lines; None for a comment or keep-alive (no data)."""
    fields: dict[bytes, bytes] = {}
    for line in block.split(b"\n"):
        if line and not line.startswith(b":"):
            name, _, value = line.partition(b":")
            fields[name] = value[1:] if value.startswith(b" ") else value
    data = fields.get(b"data")
    if data is None:
        return None
    raw_id = fields.get(b"id")
    event_id = int(raw_id) if raw_id and raw_id.isdigit() else None
    return Event(event_id, fields.get(b"event", b"message").decode(), data.decode(), at)


async def open_url(
    base_url: str, path: str, headers: dict[str, str] | None = None, receive_buffer: int = 0
) -> Stream:
    """:func:`open_stream` for ``http://host:port`` and a path."""
    return await open_stream(*address(base_url), path, headers, receive_buffer=receive_buffer)


def address(base_url: str) -> tuple[str, int]:
    """``http://host:port`` → (host, port)."""
    url = urlsplit(base_url)
    if url.hostname is None or url.port is None:
        raise ValueError(f"{base_url} names no host and port")
    return url.hostname, url.port


async def open_stream(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str] | None = None,
    hops: int = 3,
    receive_buffer: int = 0,
) -> Stream:
    """Connect and read the answer's head (10 s at most), following redirects (the edge sends
    streams to the stream tier); events are read by iterating. ``receive_buffer``: a reader
    that takes in at most about that many bytes until the events are read (a slow client)."""
    timeout = 10.0
    reader, writer = await asyncio.wait_for(_connect(host, port, receive_buffer), timeout)
    lines = [f"GET {path} HTTP/1.0", f"Host: {host}:{port}", "Accept: text/event-stream"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout)
    parts = status_line.decode().split()
    if len(parts) < 2 or not parts[1].isdigit():
        writer.close()
        raise ConnectionError(f"no HTTP answer from {host}:{port}{path}")
    answer_headers: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(reader.readline(), timeout)).decode().rstrip("\r\n")
        if not line:
            break
        name, _, value = line.partition(":")
        key = name.strip().lower()  # a repeated header reads as one list, as HTTP has it
        answer_headers[key] = ", ".join(filter(None, (answer_headers.get(key), value.strip())))
    status = int(parts[1])
    if status in (301, 302, 307, 308) and "location" in answer_headers and hops > 0:
        writer.close()
        target = urlsplit(answer_headers["location"])
        follow = target.path + (f"?{target.query}" if target.query else "")
        if target.hostname and target.port:
            host, port = target.hostname, target.port
        return await open_stream(host, port, follow, headers, hops - 1, receive_buffer)
    return Stream(status, answer_headers, reader, writer)


async def _connect(
    host: str, port: int, receive_buffer: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if not receive_buffer:
        return await asyncio.open_connection(host, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except OSError:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, limit=receive_buffer)


@dataclass
class ResumingFan:
    """A browser's EventSource in small: when the stream drops it reconnects after a short
    jittered wait, sending ``Last-Event-ID``. Records every version id and any step back."""

    base_url: str
    path: str
    ids: list[int] = field(default_factory=list)
    reconnects: int = 0
    #: When events arrived whose id was below one already received (epoch seconds).
    went_back_at: list[float] = field(default_factory=list)
    #: Events whose id had been received already (harmless, counted to be seen).
    repeated: int = 0
    final: bool = False

    async def listen(self) -> None:
        """Until the game's final event; cancel to stop earlier."""
        while not self.final:
            headers = {"Last-Event-ID": str(self.ids[-1])} if self.ids else {}
            try:
                stream = await open_url(self.base_url, self.path, headers)
            except (OSError, ConnectionError, TimeoutError):
                stream = None
            if stream is not None:
                try:
                    if stream.status == 200:
                        await self._read(stream)
                except (OSError, asyncio.IncompleteReadError):
                    pass
                finally:
                    stream.close()
            if not self.final:
                self.reconnects += 1
                await asyncio.sleep(random.uniform(0.1, 0.3))

    async def _read(self, stream: Stream) -> None:
        async for event in stream:
            if event.id is not None:
                newest = self.ids[-1] if self.ids else 0
                if event.id > newest:
                    self.ids.append(event.id)
                elif event.id == newest:
                    self.repeated += 1
                else:
                    self.went_back_at.append(time.time())
            if event.event == "final":
                self.final = True
                return
