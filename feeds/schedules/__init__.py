"""Provider schedules and scoreboards → the GAME_SCHEDULED records a schedule states. One pure
module per format, each with ``FORMAT``, ``matches(payload)`` and ``parse(payload, source)``,
like the play-by-play adapters beside them; their games enter through the same intake."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from core.errors import FeedFormatError
from feeds.adapters import decode
from feeds.schedules import (
    espn_scoreboard,
    nba_schedule,
    nba_scoreboard,
    nba_stats_scoreboard,
    nhl_schedule,
    statsbomb_matches,
    statsperform_ma1,
)
from feeds.schedules.schedule import Schedule

__all__ = ["FORMATS", "Schedule", "detect", "load", "parse"]


class ScheduleAdapter(Protocol):
    FORMAT: str

    def matches(self, payload: Any) -> bool: ...

    def parse(self, payload: Any, source: str | None = None) -> Schedule: ...


_ADAPTERS: list[ScheduleAdapter] = [
    nba_schedule,
    nba_scoreboard,
    nba_stats_scoreboard,
    nhl_schedule,
    espn_scoreboard,
    statsbomb_matches,
    statsperform_ma1,
]
FORMATS: dict[str, ScheduleAdapter] = {adapter.FORMAT: adapter for adapter in _ADAPTERS}


def detect(payload: Any) -> str:
    for name, adapter in FORMATS.items():
        if adapter.matches(payload):
            return name
    raise FeedFormatError(f"unknown schedule format; known formats: {', '.join(FORMATS)}")


def parse(payload: Any, format: str | None = None, source: str | None = None) -> Schedule:
    """The games a decoded schedule lists; a document no adapter can read is a
    :class:`FeedFormatError` (a game the model refuses is counted, never fatal)."""
    name = format or detect(payload)
    if name not in FORMATS:
        raise FeedFormatError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}")
    try:
        return FORMATS[name].parse(payload, source)
    except ValidationError as exc:
        raise FeedFormatError(f"{name}: {exc.errors()[0]['msg']}") from None
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise FeedFormatError(f"{name}: not a schedule of this format ({exc!r})") from None
    except RecursionError:
        raise FeedFormatError(f"{name}: the document is nested too deep") from None


def load(path: Path, format: str | None = None) -> Schedule:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise FeedFormatError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        payload = decode(body)
    except FeedFormatError as exc:
        raise FeedFormatError(f"{path}: {exc}") from None
    return parse(payload, format, path.stem)
