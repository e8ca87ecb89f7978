"""What every schedule adapter returns, and the pieces they share."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from core.models import EventType, GameEvent, GameInfo, GameStatus, Result, Sport, Team
from feeds.adapters.common import safe_id, text, to_int
from feeds.adapters.feed import Feed


@dataclass(frozen=True)
class Schedule:
    """A provider's list of games, each as the GAME_SCHEDULED record a schedule states
    (``listed``), in provider order.

    ``unrecognized`` counts games the adapter could not read (reported, never fatal)."""

    format: str
    games: list[GameEvent]
    unrecognized: int = 0
    problems: list[str] = field(default_factory=list)

    def feeds(self) -> list[Feed]:
        """One partial feed per game, for the intake: its schedule record alone (no play
        is removed by it), with the final the schedule states where it states one."""
        return [
            Feed(self.format, event.game_id, [event], final=final(event)) for event in self.games
        ]


def final(event: GameEvent) -> tuple[int, int] | None:
    """The final score a schedule record states (home, away), where it lists the game final."""
    info = event.game
    if info is None or info.status is not GameStatus.FINAL or info.result is None:
        return None
    return (info.result.home, info.result.away)


def listed(game_id: str, info: GameInfo) -> GameEvent:
    """A schedule's record of a game: its own record id, apart from the live document's
    ``:scheduled`` record, so neither document takes the other's back."""
    return GameEvent(
        event_id=f"{game_id}:listed",
        game_id=game_id,
        sequence=0,
        event_type=EventType.GAME_SCHEDULED,
        game=info.model_copy(update={"listed": True}),
        description=f"{info.away.code} at {info.home.code}",
        occurred_at=info.start_time,
    )


class Games:
    """Collects a schedule's games: one record per game id (the last copy wins, where the
    first stood), each game the model refuses counted, never fatal."""

    def __init__(self) -> None:
        self._games: dict[str, GameEvent] = {}
        self.unrecognized = 0

    def add(self, make: Callable[..., GameEvent], *args: Any) -> None:
        """``make(*args)``: a game, or one more counted where the game cannot be read."""
        try:
            event: GameEvent | None = make(*args)
        except (ValidationError, KeyError, TypeError, ValueError):
            event = None
        if event is None:
            self.unrecognized += 1
        else:
            self._games[event.game_id] = event

    def schedule(self, format: str, problems: list[str] | None = None) -> Schedule:
        return Schedule(format, list(self._games.values()), self.unrecognized, problems or [])


def team(team_id: object, code: object, name: object, city: object = None) -> Team:
    """A team as a schedule names it; the code stands in for a missing name."""
    short = text(code, 16).strip() or safe_id(team_id)[:16]
    return Team(
        team_id=safe_id(team_id),
        code=short,
        name=text(name, 128).strip() or short,
        city=text(city, 64).strip() or None,
    )


def initials(name: str) -> str:
    """A code for a team whose provider gives none: its first three letters."""
    return re.sub(r"[^A-Za-z]", "", name)[:3].upper() or "TM"


def result(
    home: object, away: object, home_periods: object = None, away_periods: object = None
) -> Result | None:
    """A stated score, where both sides are numbers (ESPN writes them as strings), with the
    line score where both sides' are readable, as many periods each."""
    home_score, away_score = to_int(home), to_int(away)
    if home_score is None or away_score is None:
        return None
    lines = [_line(home_periods), _line(away_periods)]
    if None in lines or len(lines[0] or []) != len(lines[1] or []):
        lines = [[], []]
    return Result(
        home=home_score, away=away_score, home_periods=lines[0] or [], away_periods=lines[1] or []
    )


def _line(periods: object) -> list[int] | None:
    if not isinstance(periods, list) or not periods:
        return None
    found = [to_int(points) for points in periods]
    return None if None in found else [points for points in found if points is not None]


def day(value: object, pattern: str) -> date | None:
    """A provider's calendar date in ``pattern`` (``%m/%d/%Y``…), or None."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), pattern).date()
    except ValueError:
        return None


def wall_time(on: date | None, clock: object, zone: str, pattern: str) -> datetime | None:
    """A local wall-clock start (``7:30 pm``, ``16:15:00``) on ``on`` in ``zone``, as an
    instant; None where either is missing or unreadable."""
    if on is None or not isinstance(clock, str):
        return None
    try:
        parsed: time = datetime.strptime(clock.strip(), pattern).time()
    except ValueError:
        return None
    return datetime.combine(on, parsed, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def nba_season(game_id: str) -> str | None:
    """An NBA-family game id's season: ``0022501186`` → ``2025-26``."""
    digits = game_id[3:5]
    if len(game_id) != 10 or not digits.isdigit():
        return None
    start = 2000 + int(digits)
    return f"{start}-{(start + 1) % 100:02d}"


def info(
    sport: Sport,
    league: str,
    home: Team,
    away: Team,
    **fields: Any,
) -> GameInfo:
    return GameInfo(sport=sport, league=league[:32], home=home, away=away, listed=True, **fields)
