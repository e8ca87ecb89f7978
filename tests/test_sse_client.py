"""The suite's own SSE client: what the stream tests read through must not drop what it reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from harness.sse import open_stream


@pytest.fixture
async def two_events_in_one_write() -> AsyncIterator[int]:
    """A server answering every stream with two events in a single write, then a third."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        writer.write(b"id: 1\ndata: one\n\nid: 2\ndata: two\n\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b": keep-alive\n\nid: 3\nda")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"ta: three\n\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_events_read_together_are_each_taken_in_turn(two_events_in_one_write: int) -> None:
    stream = await open_stream("127.0.0.1", two_events_in_one_write, "/stream")
    try:
        taken = [await stream.take(1) for _ in range(3)]
    finally:
        stream.close()
    assert [[(e.id, e.data) for e in events] for events in taken] == [
        [(1, "one")],
        [(2, "two")],
        [(3, "three")],
    ]
