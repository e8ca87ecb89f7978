"""Small async helpers shared by the tests."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from confluent_kafka import Consumer

from core.models import GameEvent
from core.settings import KafkaSettings
from runtime.kafka import consumer_config
from runtime.lifecycle import Service

Check = Callable[[], object | Awaitable[object]]


async def eventually(check: Check, limit: float = 30.0) -> None:
    """Wait until ``check()`` (sync or async) is true; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(service: Service) -> AsyncIterator[None]:
    """Run a service (``async with`` + ``run(stop)``) in the background for the block; stop it
    and let it drain after."""
    stop = asyncio.Event()
    async with service:
        task = asyncio.create_task(service.run(stop))
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


#: Spellings of a path that must never get around an edge's rules (encoded letters, dot
#: segments, doubled slashes, absolute forms, an encoded slash before ``stream``): every edge's
#: tests run them.
SPELLINGS = [
    "/%6detrics",
    "/metric%73",
    "http://x/metrics",
    "https://x/metrics?a=1",
    "/v1/../metrics",
    "//metrics",
    "/v1/games/g1%2fstream",
    "/v1/games/g1/%73tream",
    # A newline ends the path for a ``$`` that is not the end of the input.
    "/v1/games/g1%0A",
    "/v1/games/g1%0a/stream",
]


def produced(kafka: KafkaSettings, games: list[str]) -> list[GameEvent]:
    """Every event of ``games`` on the events topic, read from the start by a group of its own
    until the topic has been quiet for two seconds."""
    consumer = Consumer(consumer_config(kafka, f"read-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([kafka.events_topic])
    found: list[GameEvent] = []
    quiet = time.monotonic() + 5
    try:
        while time.monotonic() < quiet:
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    event = GameEvent.model_validate_json(message.value() or b"")
                    if event.game_id in games:
                        found.append(event)
                        quiet = time.monotonic() + 2
    finally:
        consumer.close()
    return found
