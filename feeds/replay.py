"""Replay a recorded game into Kafka at its real pace, or N× faster."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

from confluent_kafka import Producer

from core.models import GameEvent
from core.settings import KafkaSettings
from feeds.adapters import Feed
from runtime.kafka import Delivery, producer_config

Progress = Callable[[int, int], None]


class ReplaySettings(KafkaSettings):
    """``scorecast replay``: only where the events go."""


@dataclass(frozen=True)
class ReplayResult:
    game_id: str
    produced: int
    seconds: float


def timeline(
    events: list[GameEvent], speed: float, max_gap: float
) -> Iterator[tuple[float, GameEvent]]:
    """Yield (seconds after start, event). ``speed`` 0 means no waiting at all.

    Events are paced by their wall-clock time; formats without one are paced by the game
    clock within a period (stoppages then take no time).
    """
    elapsed = 0.0
    previous: GameEvent | None = None
    for event in events:
        if speed > 0 and previous is not None:
            elapsed += min(_gap(previous, event) / speed, max_gap)
        previous = event
        yield elapsed, event


def _gap(before: GameEvent, after: GameEvent) -> float:
    if before.occurred_at is not None and after.occurred_at is not None:
        return max(0.0, (after.occurred_at - before.occurred_at).total_seconds())
    start, end = before.clock_seconds, after.clock_seconds
    if before.period == after.period and start is not None and end is not None:
        return abs(end - start)
    return 0.0


def replay(
    feed: Feed,
    settings: ReplaySettings,
    speed: float = 1.0,
    max_gap: float = 30.0,
    progress: Progress | None = None,
    producer: Producer | None = None,
) -> ReplayResult:
    """Produce every event of ``feed`` to the events topic, keyed by game id.

    Pass a ``producer`` to keep one connection across replays (a new one spends its first
    hundred milliseconds or so connecting, which would count as pipeline latency)."""
    delivery = Delivery(producer or Producer(producer_config(settings)))
    started = time.monotonic()
    total = len(feed.events)
    for count, (at, event) in enumerate(timeline(feed.events, speed, max_gap), start=1):
        wait = started + at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        delivery.send_event(settings.events_topic, event)
        if progress is not None:
            progress(count, total)
        if delivery.failures:
            break
    delivery.check(30, f"replay of {feed.game_id}")
    return ReplayResult(feed.game_id, total, time.monotonic() - started)


class ProgressBar:
    """A one-line bar on a terminal; a line every 10% elsewhere (logs, CI)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream: TextIO = stream or sys.stderr
        self._tty = self.stream.isatty()
        self._shown = -1

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        if self._tty:
            bar = "#" * int(share * 30)
            self._write(f"\r{self.label} [{bar:<30}] {done}/{total} {share:4.0%}")
            if done == total:
                self._write("\n")
        elif int(share * 10) > self._shown:
            self._shown = int(share * 10)
            self._write(f"{self.label}: {done}/{total} ({share:.0%})\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
