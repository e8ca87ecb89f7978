"""A small, cheap SSE client on raw asyncio streams: thousands of them fit in one process.

It speaks HTTP/1.0, so a streamed answer arrives as plain bytes until the server closes it (no
chunked framing to undo).
"""

from __future__ import annotations

import asyncio
import random
import time
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

    async def __aiter__(self) -> AsyncIterator[Event]:
        fields: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if not line:
                return
            text = line.decode().rstrip("\r\n")
            if text:
                if not text.startswith(":"):
                    name, _, value = text.partition(":")
                    fields[name] = value.removeprefix(" ")
                continue
            if "data" in fields:
                raw_id = fields.get("id")
                event_id = int(raw_id) if raw_id and raw_id.isdigit() else None
                yield Event(
                    event_id, fields.get("event", "message"), fields["data"], time.monotonic()
                )
            fields = {}

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


async def open_url(base_url: str, path: str, headers: dict[str, str] | None = None) -> Stream:
    """:func:`open_stream` for ``http://host:port`` and a path."""
    return await open_stream(*address(base_url), path, headers)


def address(base_url: str) -> tuple[str, int]:
    """``http://host:port`` → (host, port)."""
    url = urlsplit(base_url)
    if url.hostname is None or url.port is None:
        raise ValueError(f"{base_url} names no host and port")
    return url.hostname, url.port


async def open_stream(
    host: str, port: int, path: str, headers: dict[str, str] | None = None
) -> Stream:
    """Connect and read the answer's head (10 s at most); events are read by iterating."""
    timeout = 10.0
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
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
        answer_headers[name.strip().lower()] = value.strip()
    return Stream(int(parts[1]), answer_headers, reader, writer)


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
