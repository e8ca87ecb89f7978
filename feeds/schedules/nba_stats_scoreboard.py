"""stats.nba.com ``scoreboardV2``: a day's games as result sets.

``GameHeader`` has one row per game (``GAME_DATE_EST`` is the US Eastern day, a date only);
``LineScore`` two rows per game, one per team, with names, per-quarter points and the total.
The start time appears only in ``GAME_STATUS_TEXT`` before tip-off (``7:00 pm ET``).
"""

from __future__ import annotations

from typing import Any

from core.models import GameEvent, GameStatus, Sport
from feeds.adapters.common import get, nba_league, safe_id, text
from feeds.schedules.nba_schedule import nba_status
from feeds.schedules.schedule import Games, Schedule, day, info, listed, result, team, wall_time

FORMAT = "nba-stats-scoreboard"


def matches(payload: Any) -> bool:
    sets = get(payload, "resultSets")
    return isinstance(sets, list) and any(
        isinstance(one, dict) and one.get("name") == "GameHeader" for one in sets
    )


def parse(payload: Any, source: str | None = None) -> Schedule:
    headers = _rows(payload, "GameHeader")
    lines: dict[str, dict[str, dict[str, Any]]] = {}
    for row in _rows(payload, "LineScore"):
        lines.setdefault(str(row.get("GAME_ID")), {})[str(row.get("TEAM_ID"))] = row
    games = Games()
    for header in headers:
        games.add(_game, header, lines.get(str(header.get("GAME_ID")), {}))
    return games.schedule(FORMAT)


def _rows(payload: Any, name: str) -> list[dict[str, Any]]:
    for one in payload["resultSets"]:
        if isinstance(one, dict) and one.get("name") == name:
            fields = one.get("headers") or []
            return [dict(zip(fields, row, strict=False)) for row in one.get("rowSet") or []]
    return []


def _game(header: dict[str, Any], lines: dict[str, dict[str, Any]]) -> GameEvent:
    game_id = safe_id(header["GAME_ID"])
    on = day(str(header.get("GAME_DATE_EST", ""))[:10], "%Y-%m-%d")
    status = nba_status(header.get("GAME_STATUS_ID"))
    home_id, away_id = str(header["HOME_TEAM_ID"]), str(header["VISITOR_TEAM_ID"])
    home, away = lines.get(home_id, {}), lines.get(away_id, {})
    clock = text(header.get("GAME_STATUS_TEXT"), 32).upper().removesuffix(" ET").strip()
    season = text(header.get("SEASON"), 4)
    return listed(
        game_id,
        info(
            Sport.BASKETBALL,
            nba_league(game_id),
            _team(home_id, home),
            _team(away_id, away),
            start_time=wall_time(on, clock, "America/New_York", "%I:%M %p")
            if status is GameStatus.SCHEDULED
            else None,
            venue=text(header.get("ARENA_NAME"), 128).strip() or None,
            season=f"{season}-{(int(season) + 1) % 100:02d}" if season.isdigit() else None,
            day=on,
            status=status,
            result=result(home.get("PTS"), away.get("PTS"), *_lines(home, away))
            if status is not GameStatus.SCHEDULED
            else None,
        ),
    )


def _team(team_id: str, line: dict[str, Any]) -> Any:
    city, name = text(line.get("TEAM_CITY_NAME"), 64), text(line.get("TEAM_NAME"), 64)
    return team(team_id, line.get("TEAM_ABBREVIATION"), f"{city} {name}".strip(), city)


_QUARTERS = [f"PTS_QTR{n}" for n in range(1, 5)]
_OVERTIMES = [f"PTS_OT{n}" for n in range(1, 11)]


def _lines(home: dict[str, Any], away: dict[str, Any]) -> tuple[list[object], list[object]]:
    """The quarters, then the overtimes played (the last one either side scored in: a
    scoreless overtime of both is not told apart from one not played)."""
    played = max(
        (n for n, column in enumerate(_OVERTIMES, 1) if home.get(column) or away.get(column)),
        default=0,
    )
    columns = _QUARTERS + _OVERTIMES[:played]
    return [home.get(column) for column in columns], [away.get(column) for column in columns]
