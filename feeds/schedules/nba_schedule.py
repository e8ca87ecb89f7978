"""The NBA's season schedule, ``staticData/scheduleLeagueV2.json``.

Games sit under ``leagueSchedule.gameDates[]``, each date the US Eastern day the league lists
them on. ``gameDateTimeUTC`` is the start; a game whose time is not set yet (knockout games
whose teams are not known) says midnight Eastern (``gameDateTimeEst`` at 00:00): no start then.
Teams not known yet have ``teamId`` 0 and empty names: listed as to be determined.
"""

from __future__ import annotations

from typing import Any

from core.models import TBD_TEAM, GameEvent, GameStatus, Sport, Team
from feeds.adapters.common import get, nba_league, safe_id, text, to_int, to_time
from feeds.schedules.schedule import Games, Schedule, day, info, listed, result, team

FORMAT = "nba-schedule"

#: ``gameStatus``: 1 scheduled, 2 live, 3 final.
STATUSES = {1: GameStatus.SCHEDULED, 2: GameStatus.LIVE, 3: GameStatus.FINAL}
#: ``postponedStatus``: ``A`` active; the others as the league writes them.
POSTPONED = {"P": GameStatus.POSTPONED, "PPD": GameStatus.POSTPONED, "C": GameStatus.CANCELLED}


def matches(payload: Any) -> bool:
    return isinstance(get(payload, "leagueSchedule", "gameDates"), list)


def parse(payload: Any, source: str | None = None) -> Schedule:
    season = text(get(payload, "leagueSchedule", "seasonYear"), 16) or None
    games = Games()
    for listed_day in payload["leagueSchedule"]["gameDates"]:
        on = day(get(listed_day, "gameDate"), "%m/%d/%Y %H:%M:%S")
        for game in get(listed_day, "games") or []:
            games.add(_game, game, on, season)
    return games.schedule(FORMAT)


def _game(game: dict[str, Any], on: Any, season: str | None) -> GameEvent:
    game_id = safe_id(game["gameId"])
    status = POSTPONED.get(str(game.get("postponedStatus", "")).upper()) or nba_status(
        game.get("gameStatus")
    )
    home, away = game["homeTeam"], game["awayTeam"]
    timed = not str(game.get("gameDateTimeEst", "")).endswith("T00:00:00Z")
    return listed(
        game_id,
        info(
            Sport.BASKETBALL,
            nba_league(game_id),
            nba_team(home, "home"),
            nba_team(away, "away"),
            start_time=to_time(game.get("gameDateTimeUTC")) if timed else None,
            venue=text(game.get("arenaName"), 128).strip() or None,
            season=season,
            day=on,
            status=status,
            result=result(home.get("score"), away.get("score"))
            if status in (GameStatus.LIVE, GameStatus.FINAL)
            else None,
        ),
    )


def nba_status(value: object) -> GameStatus:
    return STATUSES.get(to_int(value) or 0, GameStatus.SCHEDULED)


def nba_team(side: dict[str, Any], where: str) -> Team:
    """A team as the NBA's live and static documents write it (city and nickname apart)."""
    if not side.get("teamId"):
        return Team(team_id=f"{TBD_TEAM}{where}", code="TBD", name="To be determined")
    city, name = text(side.get("teamCity"), 64), text(side.get("teamName"), 64)
    full = f"{city} {name}".strip() if city != name else name
    return team(side["teamId"], side.get("teamTricode"), full, city)
