"""Put one game's events back in sequence order before they are folded.

Events may arrive duplicated or out of order. An event waits here until every event before it
has been applied, or until it has waited ``hold`` seconds: then the gap is given up on, reported,
and the event applied. Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from core.models import GameEvent

T = TypeVar("T")


@dataclass
class Held(Generic[T]):
    event: GameEvent
    tag: T
    since: float


@dataclass
class Released(Generic[T]):
    held: list[Held[T]] = field(default_factory=list)
    #: Sequence numbers given up on as missing.
    skipped: list[int] = field(default_factory=list)


class ReorderBuffer(Generic[T]):
    """Holds one game's early events. ``tag`` travels with each event (e.g. its offset)."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self._held: dict[int, Held[T]] = {}

    def __len__(self) -> int:
        return len(self._held)

    def add(self, event: GameEvent, tag: T, now: float) -> bool:
        """Hold ``event``; False when an event with its sequence is already held."""
        if event.sequence in self._held:
            return False
        self._held[event.sequence] = Held(event, tag, now)
        return True

    def tags(self) -> list[T]:
        return [held.tag for held in self._held.values()]

    def release(self, applied: int, now: float) -> Released[T]:
        """Events ready to apply after sequence ``applied`` (-1: none yet), in order."""
        out: Released[T] = Released()
        expected = applied + 1
        for sequence in [s for s in self._held if s < expected]:
            out.held.append(self._held.pop(sequence))  # late duplicates: the reducer ignores them
        while self._held:
            if expected in self._held:
                out.held.append(self._held.pop(expected))
                expected += 1
                continue
            first = min(self._held)
            if now - self._held[first].since < self.hold:
                break
            out.skipped.extend(range(expected, first))
            out.held.append(self._held.pop(first))
            expected = first + 1
        return out
