"""The NBA's scoreboard of a day, ``liveData/scoreboard/todaysScoreboard_00.json``.

``scoreboard.gameDate`` is the US Eastern day; each game has its start (``gameTimeUTC``), its
status, and the teams with their running or final score. No arena.
"""

from __future__ import annotations

from typing import Any

from core.models import GameEvent, GameStatus, Sport
from feeds.adapters.common import get, nba_league, safe_id, to_time
from feeds.schedules.nba_schedule import nba_status, nba_team
from feeds.schedules.schedule import Games, Schedule, day, info, listed, nba_season, result

FORMAT = "nba-scoreboard"


def matches(payload: Any) -> bool:
    return isinstance(get(payload, "scoreboard", "games"), list) and isinstance(
        get(payload, "scoreboard", "gameDate"), str
    )


def parse(payload: Any, source: str | None = None) -> Schedule:
    on = day(payload["scoreboard"]["gameDate"], "%Y-%m-%d")
    games = Games()
    for game in payload["scoreboard"]["games"]:
        games.add(_game, game, on)
    return games.schedule(FORMAT)


def _game(game: dict[str, Any], on: Any) -> GameEvent:
    game_id = safe_id(game["gameId"])
    status = nba_status(game.get("gameStatus"))
    home, away = game["homeTeam"], game["awayTeam"]
    return listed(
        game_id,
        info(
            Sport.BASKETBALL,
            nba_league(game_id),
            nba_team(home, "home"),
            nba_team(away, "away"),
            start_time=to_time(game.get("gameTimeUTC")),
            season=nba_season(game_id),
            day=on,
            status=status,
            result=result(home.get("score"), away.get("score"), _line(home), _line(away))
            if status is not GameStatus.SCHEDULED
            else None,
        ),
    )


def _line(side: dict[str, Any]) -> list[object]:
    return [period.get("score") for period in side.get("periods") or []]
