"""The feed poller against a provider stand-in: every recorded game served as a document that
grows, repeats itself, goes stale, fails, times out and gets corrected."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import os
import random
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from core import changes
from core.errors import FeedFormatError
from core.keys import RedisKeys
from core.models import Game, GameEvent, GameStatus
from core.reducer import fold
from core.settings import KafkaSettings
from core.store import SnapshotWriter
from feeds.adapters import Feed, load, parse
from feeds.ledger import FeedLedger, compare
from harness.timeline import recorded_games
from local.process import free_port
from local.stack import default_data_dir
from poller.service import Poller, PollError
from poller.settings import PollerSettings
from publisher.service import Publisher
from publisher.settings import PublisherSettings
from runtime.kafka import consumer_config
from tests.conftest import ThreadedServer
from tests.feed_documents import FeedStandIn, Step, document, plan
from tests.helpers import eventually, running
from tests.test_adapters import GAMES


def _settings(
    kafka: KafkaSettings,
    redis_url: str,
    prefix: str,
    url: str,
    format: str = "auto",
    **extra: float,
) -> PollerSettings:
    """A poller that polls fast and gives up on a request soon (the stand-in answers at once)."""
    fast: dict[str, float] = {
        "interval_seconds": 0.02,
        "backoff_max_seconds": 0.1,
        "timeout_seconds": 0.5,
        **extra,
    }
    return PollerSettings(
        **kafka.model_dump(),
        redis_url=redis_url,
        redis_prefix=prefix,
        url=url,
        format=format,
        **fast,  # type: ignore[arg-type]
    )


def _topic(kafka: KafkaSettings, expected: int) -> list[GameEvent]:
    consumer = Consumer(consumer_config(kafka, f"read-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([kafka.events_topic])
    found: list[GameEvent] = []
    deadline = time.monotonic() + 20
    try:
        while len(found) < expected and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    found.append(GameEvent.model_validate_json(message.value() or b""))
    finally:
        consumer.close()
    return found


#: Every recorded game, the ones added later too (named relative to the data folder).
_RECORDED = [
    f"{path.parent.name}/{path.name}"
    for path in recorded_games(Path(os.environ.get("SCORECAST_DATA_DIR") or default_data_dir()))
]


@pytest.mark.parametrize("file", _RECORDED)
async def test_a_growing_corrected_document_ends_on_the_feeds_final(
    data_dir: Path,
    kafka: KafkaSettings,
    redis_service: str,
    prefix: str,
    store: SnapshotWriter,
    file: str,
) -> None:
    path = data_dir / file
    feed = load(path)
    format = feed.format
    expected = feed.events
    final = fold_final(expected)
    if feed.final is not None:  # the provider's own final, where it states one, wins
        assert (final.home.score, final.away.score) == feed.final
    script = plan(document(format, json.loads(path.read_bytes())), random.Random(file))
    assert script.corrections >= 10
    standin = FeedStandIn(script.steps)
    with ThreadedServer(standin.app, free_port()) as server:
        poller = Poller(
            _settings(kafka, redis_service, prefix, f"{server.url}/feed/{path.name}", format)
        )
        publisher = Publisher(
            PublisherSettings(
                **kafka.model_dump(),
                redis_url=redis_service,
                redis_prefix=prefix,
                group_id=f"g-{uuid.uuid4().hex[:8]}",
            )
        )
        game_id = final.game_id

        async def caught_up() -> bool:
            if not standin.finished:
                return False
            state = await store.load_game(game_id)
            next_sequence = int(await store.redis.get(RedisKeys(prefix).feed_next(game_id)) or 0)
            return (
                state is not None
                and state.sequence == next_sequence - 1
                and poller.stats.not_modified > 1
            )

        async with running(publisher), running(poller):
            await eventually(caught_up, 60)
        stats = poller.stats
    state = await store.load_game(game_id)
    assert state is not None
    assert (state.home.score, state.away.score, state.status) == (
        final.home.score,
        final.away.score,
        GameStatus.FINAL,
    )
    assert (stats.stale, stats.not_modified >= 1, stats.failures >= 2) == (2, True, True)
    assert publisher.stats.duplicates == 0

    produced = _topic(kafka, state.sequence + 1)
    assert sorted(e.sequence for e in produced) == list(range(state.sequence + 1))  # each once
    corrections = [e for e in produced if e.revision is not None]
    assert len(corrections) >= script.corrections
    for event in corrections:  # every correction has a version saying so
        body = await store.redis.get(store.keys.version(game_id, event.sequence + 1))
        assert body is not None, event.event_id
        assert json.loads(body)["correction"]["event_id"] == event.event_id
    read = changes.parse(
        [(store.keys.change_streams[0], await store.redis.xrange(store.keys.change_streams[0]))]
    )
    versions = [
        a.version for a in read.announcements if a.game_id == game_id and a.kind == changes.VERSION
    ]
    assert versions == sorted(set(versions))  # strictly increasing


def load_feed(payload: object) -> Feed:
    return parse(payload, "nba-livedata")


def fold_final(events: list[GameEvent]) -> Game:
    game = fold(events)
    assert game is not None
    return game


async def test_a_restarted_poller_loses_nothing_and_produces_nothing_twice(
    data_dir: Path, kafka: KafkaSettings, redis_service: str, prefix: str, store: SnapshotWriter
) -> None:
    path = data_dir / GAMES[0][0]
    doc = document("nba-livedata", json.loads(path.read_bytes()))
    script = plan(doc, random.Random(7))
    # A poller that died between numbering its first document and producing it.
    first = load_feed(doc.render(doc.records[:50]))
    ledger = FeedLedger(store.redis, RedisKeys(prefix))
    numbered = compare({}, 0, first.events).events
    assert await ledger.record(first.game_id, 0, numbered)
    standin = FeedStandIn(script.steps)
    with ThreadedServer(standin.app, free_port()) as server:
        settings = _settings(kafka, redis_service, prefix, f"{server.url}/feed/{path.name}")
        async with running(Poller(settings)):
            await eventually(lambda: standin.served > len(script.steps) // 2, 30)
        async with running(Poller(settings)):  # restarted
            await eventually(lambda: standin.finished, 30)
    next_sequence = int(await store.redis.get(RedisKeys(prefix).feed_next(first.game_id)) or 0)
    produced = _topic(kafka, next_sequence)
    assert sorted(e.sequence for e in produced) == list(range(next_sequence))
    assert await store.redis.llen(RedisKeys(prefix).feed_outbox(first.game_id)) == 0
    ours = fold(sorted(produced, key=lambda e: e.sequence))
    theirs = fold(load(path).events)
    assert ours is not None
    assert theirs is not None
    assert (ours.home.score, ours.away.score, ours.status) == (
        theirs.home.score,
        theirs.away.score,
        theirs.status,
    )


async def test_a_document_not_readable_yet_is_polled_at_the_interval(
    data_dir: Path, kafka: KafkaSettings, redis_service: str, prefix: str, store: SnapshotWriter
) -> None:
    """Before tip-off the liveData document has no actions to tell home from away: that is
    not the provider failing, so the poller does not back off."""
    path = data_dir / GAMES[0][0]
    doc = document("nba-livedata", json.loads(path.read_bytes()))
    steps = [Step(doc.render([]), etag=f'"{n}"') for n in range(3)]
    steps.append(Step(doc.render(doc.records), etag='"final"'))
    standin = FeedStandIn(steps)
    with ThreadedServer(standin.app, free_port()) as server:
        poller = Poller(
            _settings(
                kafka,
                redis_service,
                prefix,
                f"{server.url}/feed/{path.name}",
                interval_seconds=0.05,
                jitter=0,
                backoff_max_seconds=30,
            )
        )
        async with running(poller):
            await eventually(lambda: poller.stats.added > 0, 10)
    assert (poller.stats.unreadable, poller.stats.failures) == (3, 0)
    assert poller.stats.added == len(load(path).events)


class _Hostile:
    """A provider stand-in that answers each GET with the next of a list of raw answers."""

    def __init__(self) -> None:
        self.answers: list[Response] = []
        self.app = Starlette(routes=[Route("/feed/{name}", self._feed)])

    async def _feed(self, request: Request) -> Response:
        return self.answers.pop(0)


def _drip() -> StreamingResponse:
    async def forever() -> AsyncIterator[bytes]:
        yield b'{"game": '
        while True:
            await asyncio.sleep(0.05)
            yield b" "

    return StreamingResponse(forever(), media_type="application/json")


def _flood() -> StreamingResponse:
    """An endless body as fast as the socket takes it (no Content-Length)."""

    async def forever() -> AsyncIterator[bytes]:
        chunk = b" " * 65536
        while True:
            yield chunk
            await asyncio.sleep(0)  # lets the stand-in see the poller hang up

    return StreamingResponse(forever(), media_type="application/json")


def _hostile_answers(good: dict[str, Any]) -> list[tuple[str, Response, str | None]]:
    """Each hostile answer a provider could give, what the poll must raise (``None``: it is
    taken), then the good document again in the date forms HTTP allows."""
    json_type = "application/json"
    refused = copy.deepcopy(good)
    refused["game"]["gameId"] = "../../etc"  # the model refuses the game
    other = copy.deepcopy(good)
    other["game"]["gameId"] = "0022000999"
    one_bad = copy.deepcopy(good)
    one_bad["game"]["actions"][5]["period"] = 999  # the model refuses this record alone

    def answer(body: Any, **headers: str) -> Response:
        return Response(json.dumps(body), media_type=json_type, headers=headers)

    return [
        ("a game the model refuses", answer(refused), "nba-livedata"),
        (
            "64 MiB gzip bomb",
            Response(
                gzip.compress(b" " * (64 * 1024 * 1024)),
                media_type=json_type,
                headers={"Content-Encoding": "gzip"},
            ),
            "over 1048576 bytes",
        ),
        (
            "3 MiB body, declared",
            Response(b" " * (3 * 1024 * 1024), media_type=json_type),
            "over 1048576 bytes",
        ),
        ("endless fast body", _flood(), "over 1048576 bytes"),
        ("a byte every 50 ms", _drip(), "TimeoutError"),
        (
            "nested 100,000 deep",
            Response(b"[" * 100_000 + b"]" * 100_000, media_type=json_type),
            "nested too deep",
        ),
        (
            "dated in 2100",
            answer(one_bad, **{"Last-Modified": "Fri, 01 Jan 2100 00:00:00 GMT"}),
            None,
        ),
        ("another game's document", answer(other), "answered game '0022000999'"),
        ("dated -0000", answer(good, **{"Last-Modified": "Thu, 03 Dec 2026 10:00:00 -0000"}), None),
        ("dated GMT", answer(good, **{"Last-Modified": "Thu, 03 Dec 2026 10:00:01 GMT"}), None),
    ]


async def test_no_provider_document_stops_the_poller(
    data_dir: Path, kafka: KafkaSettings, redis_service: str, prefix: str, store: SnapshotWriter
) -> None:
    """Hostile answers, one after the other, then the good document: each is refused with a
    clear error, within a stated memory bound (measured and printed) and the poll's deadline;
    the good one still makes the game right."""
    path = data_dir / GAMES[0][0]
    good = json.loads(path.read_bytes())
    hostile = _hostile_answers(good)
    stand_in = _Hostile()
    stand_in.answers = [response for _, response, _ in hostile]
    bound = 8 * 1024 * 1024  # for a 1 MiB document limit
    with ThreadedServer(stand_in.app, free_port()) as server:
        settings = _settings(
            kafka,
            redis_service,
            prefix,
            f"{server.url}/feed/{path.name}",
            max_document_bytes=1024 * 1024,
            timeout_seconds=1.0,
        )
        async with Poller(settings) as poller:
            print("\nhostile answer                peak memory   time")
            for name, _, raised in hostile:
                tracemalloc.start()
                started = time.monotonic()
                try:
                    if raised is None:
                        await poller.poll()
                    else:
                        with pytest.raises((FeedFormatError, PollError, TimeoutError)) as refusal:
                            await poller.poll()
                        assert raised in f"{type(refusal.value).__name__}: {refusal.value}"
                    _, peak = tracemalloc.get_traced_memory()
                finally:
                    tracemalloc.stop()
                took = time.monotonic() - started
                print(f"{name:<28} {peak / 2**20:7.1f} MiB {took:6.2f} s")
                if raised is not None:
                    assert peak < bound, name
                assert took < 3, name  # the deadline covers the whole body
            # The future date was never trusted nor sent back; the later ones were.
            assert poller._validators.get("If-Modified-Since") == "Thu, 03 Dec 2026 10:00:01 GMT"
    assert poller.stats.added == len(load(path).events)


async def test_a_running_poller_outlives_every_hostile_document(
    data_dir: Path, kafka: KafkaSettings, redis_service: str, prefix: str
) -> None:
    """The same answers to the poll loop itself: each counted as a failure or unreadable, the
    loop still polling, and the game right once good documents return."""
    path = data_dir / GAMES[0][0]
    good = json.loads(path.read_bytes())
    hostile = _hostile_answers(good)
    stand_in = _Hostile()
    stand_in.answers = [response for _, response, _ in hostile]
    stand_in.answers += [Response(json.dumps(good), media_type="application/json")] * 50
    with ThreadedServer(stand_in.app, free_port()) as server:
        poller = Poller(
            _settings(
                kafka,
                redis_service,
                prefix,
                f"{server.url}/feed/{path.name}",
                max_document_bytes=1024 * 1024,
                timeout_seconds=1.0,
            )
        )
        async with running(poller):
            await eventually(lambda: len(stand_in.answers) < 40, 30)
    refused = sum(1 for _, _, raised in hostile if raised is not None)
    assert poller.stats.failures + poller.stats.unreadable >= refused
    assert poller.stats.added == len(load(path).events)
