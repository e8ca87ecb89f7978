"""Small readers shared by the adapters: lenient conversions that return None, never raise."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from core.models import EventType, GameEvent, GameInfo

T = TypeVar("T")

# The G League's single free throw worth 1, 2 or 3 points: "Free Throw 2PT" (or "2 PT"); the
# "(2 PTS)" after it is the shooter's running total, not the value.
_FREE_THROW_VALUE = re.compile(r"Free Throw (\d)\s?PT\b")
_MMSS = re.compile(r"^(\d{1,3}):(\d{2})(?:\.(\d+))?$")


def to_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def to_time(value: object) -> datetime | None:
    """ISO-8601 date-time, with ``Z`` accepted for UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def mmss(value: object) -> float | None:
    """``11:48`` → 708.0 seconds."""
    if not isinstance(value, str):
        return None
    found = _MMSS.match(value.strip())
    if found is None:
        return None
    minutes, seconds, fraction = found.groups()
    return int(minutes) * 60 + int(seconds) + (float(f"0.{fraction}") if fraction else 0.0)


def text(value: object, limit: int = 512) -> str:
    return value[:limit] if isinstance(value, str) else ""


def get(payload: Any, *path: str | int) -> Any:
    """``payload[path[0]][path[1]]…``, or None where any step is missing or of the wrong type."""
    current = payload
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return None
        elif not isinstance(current, dict):
            return None
        current = current[step] if isinstance(step, int) else current.get(step)
    return current


def scheduled(game_id: str, info: GameInfo) -> GameEvent:
    """Sequence 0 of every game: who plays whom."""
    return GameEvent(
        event_id=f"{game_id}:scheduled",
        game_id=game_id,
        sequence=0,
        event_type=EventType.GAME_SCHEDULED,
        game=info,
        description=f"{info.away.code} at {info.home.code}",
        occurred_at=info.start_time,
    )


def safe_id(value: object) -> str:
    """A provider id made safe for URLs and keys (letters, digits, ``.``, ``_``, ``-``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", str(value)).strip("-.")
    return cleaned[:64] or "unknown"


def once_each(records: Iterable[T], provider_id: Callable[[T], object]) -> list[T]:
    """Each record of a document once, by the provider's own id: a record the document repeats
    (a re-sent or re-polled copy) counts once, as its last copy, where its first copy stood."""
    kept: dict[object, T] = {}
    for record in records:
        kept[provider_id(record)] = record
    return list(kept.values())


def free_throw_points(*texts: str) -> int | None:
    """What a free throw is worth where the feed says (G League: one shot worth 1-3 points);
    ``None``: an ordinary free throw, worth the sport's default."""
    for value in texts:
        found = _FREE_THROW_VALUE.search(value)
        if found is not None:
            return int(found.group(1))
    return None


def stated(final: tuple[int | None, int | None] | None) -> tuple[int, int] | None:
    """A final score the feed states, where both sides are readable numbers."""
    if final is None:
        return None
    home, away = final
    return (home, away) if home is not None and away is not None else None


#: The NBA's data feeds serve its sister leagues too; a game id's first two digits say which.
_NBA_FAMILY = {"00": "NBA", "10": "WNBA", "15": "NBA Summer League", "20": "G League"}


def nba_league(game_id: str) -> str:
    """``0022000001`` → NBA, ``1022300001`` → WNBA, ``2022300001`` → G League."""
    return _NBA_FAMILY.get(game_id[:2], "basketball")


#: How many refusals a feed reports with their reason (the count has them all).
REASONS_KEPT = 10


@dataclass
class Unreadable:
    """Records an adapter could not read: how many, why (the first few), and, by kind, those
    that look like scoring (a goal, a made basket…): those may leave the score wrong, so they
    are reported apart."""

    count: int = 0
    scoring: Counter[str] = field(default_factory=Counter)
    reasons: list[str] = field(default_factory=list)

    def add(
        self, scoring_kind: str | None = None, reason: str = "its identity or type is unreadable"
    ) -> None:
        self.count += 1
        if scoring_kind:
            self.scoring[scoring_kind[:64]] += 1
        if len(self.reasons) < REASONS_KEPT:
            self.reasons.append(f"record {self.count}: {reason}"[:200])

    def build(
        self, make: Callable[..., T], *args: Any, scoring_kind: str | None = None
    ) -> T | None:
        """``make(*args)``, or ``None``, counted, when the model refuses what the record says
        (an out-of-range period, an overlong name): that record alone is refused, the rest of
        the document is still read."""
        try:
            return make(*args)
        except ValidationError as refused:
            first = refused.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            self.add(scoring_kind, f"{where}: {first['msg']}" if where else first["msg"])
            return None

    def counted(self) -> dict[str, Any]:
        """The :class:`~feeds.adapters.feed.Feed` fields this fills in."""
        return {
            "unrecognized": self.count,
            "unreadable_scoring": dict(self.scoring),
            "refused": list(self.reasons),
        }
