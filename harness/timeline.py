"""Many games on one timeline: recorded games replayed at once under ids of their own, as a
match day brings them."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from confluent_kafka import Producer

from core.models import GameEvent
from feeds.adapters import Feed, load
from feeds.replay import timeline
from runtime.kafka import Delivery

#: Where the data folder keeps documents that are not one game's play-by-play.
_NOT_GAMES = {"schedules"}


def recorded_games(data_dir: Path) -> list[Path]:
    """Every recorded game: one play-by-play document per file, in a folder per sport."""
    return sorted(p for p in data_dir.glob("*/*.json") if p.parent.name not in _NOT_GAMES)


def matchday_feeds(files: list[Path], games: int) -> list[Feed]:
    """``games`` feeds: the recorded games in turn, each under an id of its own."""
    recorded = [load(path) for path in files]
    feeds = []
    for index in range(games):
        feed = recorded[index % len(recorded)]
        game_id = f"md{index:03d}-{feed.game_id}"
        events = [_renamed(event, game_id) for event in feed.events]
        feeds.append(Feed(feed.format, game_id, events))
    return feeds


def _renamed(event: GameEvent, game_id: str) -> GameEvent:
    previous = event.previous
    if previous is not None:
        previous = previous.model_copy(update={"game_id": game_id})
    return event.model_copy(update={"game_id": game_id, "previous": previous})


def schedule_of(
    feeds: list[Feed], speed: float, max_gap: float, stagger: float
) -> list[tuple[float, int, GameEvent]]:
    """Every event after the schedules, as (seconds from the start, game index, event): each
    game at ``speed``× its pace (gaps at most ``max_gap``), starts spread over ``stagger`` s."""

    def one(index: int, feed: Feed) -> Iterator[tuple[float, int, GameEvent]]:
        start = stagger * index / max(len(feeds) - 1, 1)
        for at, event in timeline(feed.events[1:], speed, max_gap):
            yield start + at, index, event

    return list(heapq.merge(*(one(i, f) for i, f in enumerate(feeds)), key=lambda e: e[0]))


class TimelineProducer:
    """Produces a timeline at its pace in a thread, telling the crowds of each score."""

    def __init__(
        self,
        producer: Producer,
        topic: str,
        events: list[tuple[float, int, GameEvent]],
        scored: Callable[[int], None],
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.events = events
        self.scored = scored
        #: What Kafka refused (the events run in a thread: its exception is not seen).
        self.failures: list[str] = []
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        delivery = Delivery(self.producer)
        self.failures = delivery.failures
        for at, index, event in self.events:
            wait = started + at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            delivery.send_event(self.topic, event)
            if event.scoring is not None:
                self.scored(index)
            if delivery.failures:
                break
        try:
            delivery.check(60, "the match day's events")
        finally:
            self.seconds = time.monotonic() - started
